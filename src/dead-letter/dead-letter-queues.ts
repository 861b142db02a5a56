import type { RedisOptions } from 'bullmq';
import type { AppConfig } from '../config/app-config';

/** Where dead letters are kept: jobs that stay in `wait` (no worker ever takes them). */
export const DEAD_LETTER_QUEUE = 'dead-letters';
/** Replays of dead letters, run by DeadLetterReplayService's worker. */
export const REPLAY_QUEUE = 'dead-letter-replays';

/** BullMQ's key prefix: `<redis.key_prefix>bull`, so `cb:bull:dead-letters:wait` (never ioredis keyPrefix). */
export function bullPrefix(config: AppConfig): string {
  return `${config.redis.key_prefix}bull`;
}

/**
 * The connection options of a BullMQ Worker, which creates and owns two connections from them (commands and
 * the blocking fetch). They reconnect forever with a capped backoff, so a worker outlives Redis restarts.
 * Caveat: BullMQ's graceful close() disconnects them and waits for them to end, and an ioredis client that is
 * waiting to reconnect never ends once disconnected; so close a worker gracefully only while its connections
 * are ready, and with force otherwise (see DeadLetterReplayService).
 */
export function workerConnection(config: AppConfig): RedisOptions {
  return {
    url: config.redis.url,
    connectTimeout: config.redis.connect_timeout,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt: number) => Math.min(attempt * 250, 5_000),
  };
}
