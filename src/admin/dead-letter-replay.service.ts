import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { CompletionError, DomainError, RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { CompletionService } from '../streaming/completion.service';
import { bullPrefix, REPLAY_QUEUE, workerConnection } from '../dead-letter/dead-letter-queues';
import { RedisGate } from '../dead-letter/redis-gate';
import { withDeadline } from '../common/with-deadline';
import type { DeadLetter, ReplayOutcome } from '../dead-letter/dead-letter';
import {
  DEFAULT_BATCH_LIMIT,
  type DeadLetterCriteria,
  MAX_BATCH_LIMIT,
} from '../dead-letter/dead-letter-query';
import { DeadLetterService } from '../dead-letter/dead-letter.service';

interface ReplayJobData {
  deadLetterId: string;
  /** Set on a job whose replay failed, just before the job fails (a failed job has no return value). */
  outcome?: ReplayOutcome;
}

type ReplayJob = Job<ReplayJobData, ReplayOutcome>;

/** A replay on its way (`jobId`), or the outcome of the letter's earlier successful replay (`done`). */
type Enqueued = { jobId: string; done?: undefined } | { jobId?: undefined; done: ReplayOutcome };

export interface ReplayResult {
  deadLetterId: string;
  outcome: ReplayOutcome;
  /** False when an earlier successful replay's outcome was returned and nothing ran. */
  replayed: boolean;
}

export interface BatchReplay {
  /** Letters whose replay is now queued (or already was); letters already replayed successfully are not. */
  queued: number;
  ids: string[];
}

/** How long `replay` waits for its replay to finish. */
export const REPLAY_WAIT_MS = 60_000;
const POLL_MS = 50;
const CONCURRENCY = 4;
/** Replays enqueued at once by a batch. */
const ENQUEUE_CHUNK = 50;

/** The replay job of a dead letter: one per letter, so replaying it twice is one replay. */
export function replayJobId(deadLetterId: string): string {
  return `replay-${deadLetterId}`;
}

/**
 * Replays dead letters through CompletionService (non-streaming, with the configured keys, `replayOf` set so a
 * failure is not dead-lettered again) on a BullMQ queue (`<prefix>:dead-letter-replays`) with a worker
 * (concurrency 4). The job id is `replay-<dead letter id>`: while a replay is queued or running, asking again
 * joins it; once one succeeded, asking again returns its outcome and runs nothing; a failed replay's job is
 * removed and a new replay runs. A succeeded replay completes its job with the outcome; a failed one fails
 * its job (UnrecoverableError, no retries) after storing the outcome in the job's data. Every outcome is also
 * appended to the dead letter's `replays`. Finished jobs are kept up to `dead_letter_queue_size` of each kind.
 *
 * The worker starts at bootstrap and reconnects by itself; waiting for one replay polls the job's state.
 */
@Injectable()
export class DeadLetterReplayService
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly log: AppLogger;
  private readonly gate: RedisGate;
  private readonly queue: Queue<ReplayJobData, ReplayOutcome>;
  private readonly keep: number;
  private worker?: Worker<ReplayJobData, ReplayOutcome>;
  private readonly closeTimeoutMs: number;
  private stopping?: Promise<void>;

  constructor(
    private readonly config: AppConfig,
    redis: RedisService,
    private readonly deadLetters: DeadLetterService,
    private readonly completions: CompletionService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'DeadLetterReplay' });
    this.keep = config.streaming.error_handling.dead_letter_queue_size;
    this.closeTimeoutMs = config.server.shutdown.drain_timeout + 5_000;
    // The producer side fails fast while Redis is away (no offline queue), like the dead-letter queue.
    const client = redis.client.duplicate({ connectionName: 'cb-dead-letter-replays' });
    this.gate = new RedisGate(
      client,
      Math.max(config.redis.connect_timeout, 500) * 5,
      this.log,
      'dead-letter replays',
    );
    client.on('error', (err: Error) => this.gate.warn(err));
    this.queue = new Queue<ReplayJobData, ReplayOutcome>(REPLAY_QUEUE, {
      connection: client,
      prefix: bullPrefix(config),
    });
    this.queue.on('error', (err: Error) => this.gate.warn(err));
  }

  /** Replays need the whole completion path: the worker starts once every module is up. */
  onApplicationBootstrap(): void {
    const worker = new Worker<ReplayJobData, ReplayOutcome>(REPLAY_QUEUE, (job) => this.process(job), {
      connection: workerConnection(this.config),
      prefix: bullPrefix(this.config),
      concurrency: CONCURRENCY,
    });
    worker.on('error', (err: Error) => this.gate.warn(err));
    worker.on('failed', (job, err) => {
      if (job) this.log.info({ dead_letter_id: job.data.deadLetterId, err: err.message }, 'replay failed');
    });
    this.worker = worker;
  }

  /** Replays one letter and waits (up to REPLAY_WAIT_MS) for the outcome. */
  async replay(id: string): Promise<ReplayResult> {
    const letter = await this.deadLetters.get(id);
    if (!letter) throw notFound(id);
    // The letter's own record first: idempotent even after the replay job itself was evicted.
    const succeeded = letter.replays.find((outcome) => outcome.status === 'succeeded');
    if (succeeded) return { deadLetterId: id, outcome: succeeded, replayed: false };
    const queued = await this.enqueue(letter);
    if (queued.done) return { deadLetterId: id, outcome: queued.done, replayed: false };
    return { deadLetterId: id, outcome: await this.outcomeOf(queued.jobId), replayed: true };
  }

  /** Queues a replay of every letter matching the criteria (newest first, at most `limit`) without waiting. */
  async replayMatching(criteria: DeadLetterCriteria, limit = DEFAULT_BATCH_LIMIT): Promise<BatchReplay> {
    const letters = await this.deadLetters.select(criteria, Math.min(limit, MAX_BATCH_LIMIT));
    const ids: string[] = [];
    for (let i = 0; i < letters.length; i += ENQUEUE_CHUNK) {
      const chunk = letters.slice(i, i + ENQUEUE_CHUNK);
      const results = await Promise.all(
        chunk.map((letter) => {
          const succeeded = letter.replays.find((outcome) => outcome.status === 'succeeded');
          return succeeded ? Promise.resolve({ done: succeeded }) : this.enqueue(letter);
        }),
      );
      results.forEach((result, j) => {
        if (!result.done) ids.push(chunk[j]!.id);
      });
    }
    return { queued: ids.length, ids };
  }

  /**
   * No new replay starts once shutdown begins; running ones finish (they drain with the other streams). Not
   * awaited here, so the drain of the streams (another module's hook) starts at once too.
   */
  beforeApplicationShutdown(): void {
    this.stopping ??= this.stopWorker();
  }

  async onApplicationShutdown(): Promise<void> {
    await (this.stopping ??= this.stopWorker());
    try {
      await this.queue.close();
    } catch (err) {
      this.log.warn({ err }, 'replay queue did not close cleanly');
    }
    await this.gate.close();
  }

  /**
   * The letter's replay job, added unless one is queued or running (joined) or has succeeded (`done`, its
   * outcome). A failed replay's job is removed first, so the letter can be replayed again.
   */
  private async enqueue(letter: DeadLetter): Promise<Enqueued> {
    const jobId = replayJobId(letter.id);
    return this.gate.run(async () => {
      const existing = await this.queue.getJob(jobId);
      if (existing) {
        const state = await existing.getState();
        if (state === 'completed' && existing.returnvalue) return { done: existing.returnvalue };
        if (state === 'completed' || state === 'failed') await existing.remove();
        else if (state !== 'unknown') return { jobId };
      }
      await this.queue.add(
        'replay',
        { deadLetterId: letter.id },
        { jobId, attempts: 1, removeOnComplete: { count: this.keep }, removeOnFail: { count: this.keep } },
      );
      return { jobId };
    }, 'queue a replay');
  }

  /** Polls a replay job until it finishes: its return value, or the outcome a failed job stored. */
  private async outcomeOf(jobId: string): Promise<ReplayOutcome> {
    const deadline = Date.now() + REPLAY_WAIT_MS;
    for (;;) {
      const state = await this.gate.run(() => this.queue.getJobState(jobId), 'read a replay');
      if (state === 'completed' || state === 'failed') {
        const job = await this.gate.run(() => this.queue.getJob(jobId), 'read a replay');
        if (job) return state === 'completed' && job.returnvalue ? job.returnvalue : failedOutcome(job);
      }
      if (state === 'unknown') {
        throw new CompletionError(
          StreamErrorCode.ServiceUnavailable,
          'The replay job is gone (replayed again meanwhile?); its outcome is on the dead letter.',
          { retryable: true },
        );
      }
      if (Date.now() >= deadline) {
        throw new CompletionError(
          StreamErrorCode.ProviderTimeout,
          `The replay did not finish within ${REPLAY_WAIT_MS / 1000}s; its outcome will be recorded on the dead letter.`,
          { retryable: true },
        );
      }
      await sleep(POLL_MS);
    }
  }

  private async process(job: ReplayJob): Promise<ReplayOutcome> {
    const id = job.data.deadLetterId;
    const letter = await this.deadLetters.get(id);
    if (!letter) throw new UnrecoverableError(`Dead letter ${id} no longer exists.`);
    const outcome = await this.run(letter);
    await this.deadLetters.recordReplay(id, outcome);
    if (outcome.status === 'failed') {
      await job.updateData({ ...job.data, outcome });
      throw new UnrecoverableError(outcome.error?.message ?? 'The replay failed.');
    }
    return outcome;
  }

  /** One non-streaming completion of the letter's request, with the configured keys. */
  private async run(letter: DeadLetter): Promise<ReplayOutcome> {
    const { stream_options: _streamOptions, ...request } = letter.request;
    try {
      const result = await this.completions.complete(
        { ...request, stream: false },
        { requestId: replayJobId(letter.id), protocol: 'http', replayOf: letter.id, log: this.log },
      );
      return {
        at: new Date().toISOString(),
        status: 'succeeded',
        completionId: result.completionId,
        provider: result.provider,
        model: result.model,
      };
    } catch (err) {
      if (!(err instanceof DomainError)) this.log.error({ err, dead_letter_id: letter.id }, 'replay crashed');
      return {
        at: new Date().toISOString(),
        status: 'failed',
        error:
          err instanceof DomainError
            ? { code: err.code, message: err.message }
            : { code: StreamErrorCode.Internal, message: 'The replay failed unexpectedly.' },
      };
    }
  }

  /**
   * Closes the worker. While its connections are up, gracefully: no new replay starts and running ones finish
   * (they are completions, drained with the other streams). Otherwise with force: a graceful close would wait
   * for connections that may never come back; a replay cut this way is left `active` in Redis and runs again
   * once its lock expires (replays are at least once).
   */
  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const graceful = await this.connected(worker);
    try {
      await withDeadline(worker.close(!graceful), this.closeTimeoutMs, 'closing the replay worker');
    } catch (err) {
      this.log.warn({ err, graceful }, 'replay worker did not close cleanly');
    }
  }

  /** Whether both of the worker's connections are ready now. */
  private async connected(worker: Worker<ReplayJobData, ReplayOutcome>): Promise<boolean> {
    if (!this.gate.ready) return false;
    const backend = worker.getBackend();
    const clients = [backend.client, backend.blockingClient].filter((c) => c !== undefined);
    try {
      const ready = await withDeadline(Promise.all(clients), 200, 'replay worker connections');
      return ready.every((client) => client.status === 'ready');
    } catch {
      return false;
    }
  }
}

/** The outcome a failed replay job stored, or one made of its failure reason. */
function failedOutcome(job: ReplayJob): ReplayOutcome {
  return (
    job.data.outcome ?? {
      at: new Date(job.finishedOn ?? Date.now()).toISOString(),
      status: 'failed',
      error: { code: StreamErrorCode.Internal, message: job.failedReason || 'The replay failed.' },
    }
  );
}

function notFound(id: string): CompletionError {
  return new CompletionError(RequestErrorCode.NotFound, `No dead letter with id ${id}.`, { param: 'id' });
}
