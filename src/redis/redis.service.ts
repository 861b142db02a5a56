import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { type AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { withDeadline } from '../common/with-deadline';

export interface RedisPing {
  up: boolean;
  latencyMs?: number;
  error?: string;
}

const ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * The one shared ioredis connection for commands. It never blocks the service: commands fail fast while Redis
 * is away (no offline queue) and the client keeps reconnecting in the background. Blocking users (BullMQ
 * workers, subscribers) take their own connection with `duplicate()`.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  readonly client: Redis;
  private readonly log: AppLogger;
  private lastErrorLogAt = 0;
  private down = false;

  constructor(config: AppConfig, @Inject(ROOT_LOGGER) logger: AppLogger) {
    this.log = logger.child({ context: 'Redis' });
    this.client = new Redis(config.redis.url, {
      connectTimeout: config.redis.connect_timeout,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt) => Math.min(attempt * 250, 5_000),
    });
    this.client.on('error', (err: Error) => this.onError(err));
    this.client.on('ready', () => {
      if (this.down) this.log.info('Redis connection restored');
      this.down = false;
    });
  }

  /** PING with a deadline; never throws. */
  async ping(timeoutMs: number): Promise<RedisPing> {
    const started = performance.now();
    try {
      await withDeadline(this.client.ping(), timeoutMs, 'PING');
      return { up: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    } catch (err) {
      return { up: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  async onApplicationShutdown(): Promise<void> {
    try {
      if (this.client.status === 'ready') await this.client.quit();
      else this.client.disconnect();
    } catch {
      this.client.disconnect();
    }
  }

  private onError(err: Error): void {
    const now = Date.now();
    if (!this.down || now - this.lastErrorLogAt >= ERROR_LOG_INTERVAL_MS) {
      // The message names host and port only; the URL (which may hold a password) is never logged.
      this.log.warn(
        { err: { message: err.message, code: (err as NodeJS.ErrnoException).code } },
        'Redis unavailable',
      );
      this.lastErrorLogAt = now;
    }
    this.down = true;
  }
}
