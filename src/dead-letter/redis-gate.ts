import type Redis from 'ioredis';
import type { AppLogger } from '../common/logging/logger';
import { CompletionError, DomainError, StreamErrorCode } from '../contract/error-code';
import { DeadlineError, withDeadline } from '../common/with-deadline';

/** The admin API's answer while Redis is away. */
export function redisUnavailable(): CompletionError {
  return new CompletionError(
    StreamErrorCode.ServiceUnavailable,
    'Dead letters live in Redis, which is unavailable right now; retry later.',
    { retryable: true, retryAfterMs: 5_000 },
  );
}

const CONNECTION_FAILURE =
  /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH/;

/** Whether an ioredis/BullMQ error says the connection failed (rather than the command). */
export function isConnectionError(err: unknown): boolean {
  return (
    err instanceof Error &&
    CONNECTION_FAILURE.test(`${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}`)
  );
}

const ERROR_LOG_INTERVAL_MS = 30_000;
/** Statuses of a connection being set up (as opposed to failed and retrying, or closed). */
const CONNECTING: ReadonlySet<string> = new Set(['wait', 'connecting', 'connect']);

/**
 * Runs the admin API's Redis work on a fail-fast connection: 503 (service_unavailable) at once while the
 * connection is not ready, when Redis does not answer in time, or when the connection fails under a command.
 * Also logs Redis trouble at most once per 30 s.
 */
export class RedisGate {
  private lastLogAt = 0;
  /** The connection closed and has not been ready since. */
  private lost = false;

  constructor(
    private readonly client: Redis,
    private readonly timeoutMs: number,
    private readonly log: AppLogger,
    private readonly what: string,
  ) {
    client.on('close', () => {
      this.lost = true;
    });
    client.on('ready', () => {
      this.lost = false;
    });
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /**
   * Whether the connection is (or becomes, within `ms`) ready. Only a first connection attempt in progress (at
   * boot, say) is waited for, until it succeeds or fails; a connection known to be down (waiting to retry, or
   * retrying) answers false at once.
   */
  whenReady(ms: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    if (this.lost || !CONNECTING.has(this.client.status)) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('close', onClose);
        resolve(ready);
      };
      const onReady = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      this.client.once('ready', onReady);
      this.client.once('close', onClose);
    });
  }

  async run<T>(op: () => Promise<T>, what: string): Promise<T> {
    if (!(await this.whenReady(this.timeoutMs))) throw redisUnavailable();
    try {
      return await withDeadline(op(), this.timeoutMs, `${this.what}: ${what}`);
    } catch (err) {
      if (err instanceof DomainError) throw err;
      if (!(err instanceof DeadlineError) && this.ready && !isConnectionError(err)) throw err;
      this.warn(err);
      throw redisUnavailable();
    }
  }

  warn(err: unknown): void {
    const now = Date.now();
    if (now - this.lastLogAt < ERROR_LOG_INTERVAL_MS) return;
    this.lastLogAt = now;
    const message = err instanceof Error ? err.message : String(err);
    this.log.warn({ err: { message } }, `${this.what}: Redis unavailable`);
  }

  /** Quits the connection (or drops it when it is not up). */
  async close(): Promise<void> {
    if (this.ready) await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }
}
