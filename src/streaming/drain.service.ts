import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompletionError, StreamErrorCode } from '../contract/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { ActiveStreams } from './active-streams.service';
import { StreamHub } from './hub/stream-hub.service';

/** Time given to streams ended by the drain to write their error frame before the server closes. */
const FINAL_FRAME_GRACE_MS = 2_000;

/**
 * Graceful shutdown (SIGTERM in Kubernetes): readiness turns 503, new work is refused after
 * `server.shutdown.readiness_grace`, in-flight streams get `drain_timeout` to finish, and any still open are
 * ended with a `service_unavailable` error frame, never cut silently. Runs first on shutdown (the root module's
 * ShutdownSequence calls it), before the HTTP server closes.
 */
@Injectable()
export class DrainService {
  private readonly log: AppLogger;

  constructor(
    private readonly config: AppConfig,
    private readonly lifecycle: LifecycleService,
    private readonly active: ActiveStreams,
    private readonly hub: StreamHub,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'Drain' });
  }

  async drain(signal?: string): Promise<void> {
    const { readiness_grace, drain_timeout } = this.config.server.shutdown;
    this.lifecycle.beginDrain();
    this.log.info({ signal, in_flight: this.active.size }, 'draining: readiness now fails');
    if (readiness_grace > 0) await sleep(readiness_grace);
    this.lifecycle.refuseNewWork();
    this.hub.cancelAbandoned();
    if (await this.active.waitForIdle(drain_timeout)) {
      this.log.info('drained: no streams in flight');
      return;
    }
    this.log.warn({ in_flight: this.active.size }, 'drain timeout: ending remaining streams with an error');
    this.active.abortAll(
      new CompletionError(
        StreamErrorCode.ServiceUnavailable,
        'The server is shutting down and ended this stream before it completed; retry the request.',
        { retryable: true },
      ),
    );
    await this.active.waitForIdle(FINAL_FRAME_GRACE_MS);
  }
}
