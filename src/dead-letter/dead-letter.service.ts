import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { type Job, Queue } from 'bullmq';
import type Redis from 'ioredis';
import { MetricsService } from '../analytics/metrics.service';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { withDeadline } from '../common/with-deadline';
import { bullPrefix, DEAD_LETTER_QUEUE } from './dead-letter-queues';
import { RedisGate } from './redis-gate';
import {
  type DeadLetter,
  isDeadLetterId,
  MAX_REPLAYS_KEPT,
  type NewDeadLetter,
  type ReplayOutcome,
} from './dead-letter';
import {
  type DeadLetterCriteria,
  type DeadLetterPage,
  type DeadLetterQuery,
  meetsCriteria,
  newestFirst,
  pageOf,
} from './dead-letter-query';
import { configuredSecrets, type LetterSecrets, scrubLetter } from './dead-letter-scrub';
import { DeadLetterSpool } from './dead-letter-spool';
import { SanitizationService } from '../sanitization/sanitization.service';

/** Where a letter went: the queue (BullMQ acknowledged the add), the spool (its line fdatasynced), or nowhere. */
export type StoredAs = 'queue' | 'spool' | 'lost';

/** A recorded letter once it is durable (or known lost). */
export interface RecordedLetter {
  id: string;
  storedAs: StoredAs;
}

/** Letters read from Redis per round trip while scanning the queue. */
const SCAN_PAGE = 500;
/** How often a spool that still holds letters is retried while Redis looks up. */
const SPOOL_RETRY_MS = 5_000;

/**
 * Dead letters: completions that failed on every provider, kept for an admin to inspect, replay or delete.
 *
 * Storage is a BullMQ queue (`<key_prefix>bull:dead-letters`) that no worker consumes: each letter is a job
 * in `wait` whose id is the letter's id and whose data is the letter. The queue is bounded by
 * `dead_letter_queue_size`; beyond it the oldest (first added) are removed. The queue has its own connection
 * without an offline queue, so while Redis is away a store fails at once and the letter goes to the local
 * spool file (DeadLetterSpool); the spool is drained into the queue when the connection is ready again (the
 * `ready` event, which also fires at boot), and every few seconds while it still holds letters.
 *
 * Reads (list, get) scan the bounded queue: every letter is fetched and filtered in memory, which is fine
 * for an admin API over at most `dead_letter_queue_size` letters.
 */
@Injectable()
export class DeadLetterService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log: AppLogger;
  private readonly client: Redis;
  private readonly gate: RedisGate;
  private readonly queue: Queue<DeadLetter, void>;
  private readonly spool: DeadLetterSpool;
  private readonly secrets: LetterSecrets;
  private readonly maxLetters: number;
  private readonly timeoutMs: number;
  private readonly inFlight = new Set<Promise<StoredAs>>();
  private readonly listeners = new Set<(letter: DeadLetter) => void>();
  private draining?: Promise<void>;
  private drainAgain = false;
  private trimming?: Promise<void>;
  private trimAgain = false;
  private retryTimer?: NodeJS.Timeout;
  /** The spool was opened (counted); drains wait for it. */
  private opened = false;
  private closed = false;

  constructor(
    config: AppConfig,
    redis: RedisService,
    private readonly metrics: MetricsService,
    private readonly sanitization: SanitizationService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'DeadLetters' });
    const { dead_letter_queue_size, dead_letter_spool } = config.streaming.error_handling;
    this.maxLetters = dead_letter_queue_size;
    this.timeoutMs = Math.max(config.redis.connect_timeout, 500);
    this.secrets = configuredSecrets(config);
    this.spool = new DeadLetterSpool(resolve(dead_letter_spool));
    // Same options as the shared client (no offline queue: commands fail fast while Redis is away), but its
    // own socket, so BullMQ's scripts and listeners stay off the shared one.
    this.client = redis.client.duplicate({ connectionName: 'cb-dead-letters' });
    this.gate = new RedisGate(this.client, this.timeoutMs * 5, this.log, 'dead letters');
    this.client.on('error', (err: Error) => this.gate.warn(err));
    this.client.on('ready', () => this.drainSoon());
    this.queue = new Queue<DeadLetter, void>(DEAD_LETTER_QUEUE, {
      connection: this.client,
      prefix: bullPrefix(config),
      // Nobody listens to this queue's events; keep its event stream short.
      streams: { events: { maxLen: 100 } },
    });
    this.queue.on('error', (err: Error) => this.gate.warn(err));
  }

  async onModuleInit(): Promise<void> {
    await this.spool.open();
    this.opened = true;
    this.metrics.deadLettersSpooled.set(this.spool.pending);
  }

  onApplicationBootstrap(): void {
    this.drainSoon();
    this.retryTimer = setInterval(() => {
      if (this.spool.pending > 0) this.drainSoon();
    }, SPOOL_RETRY_MS);
    this.retryTimer.unref();
  }

  /** Letters waiting in the local spool for Redis (readiness detail). */
  get spooled(): number {
    return this.spool.pending;
  }

  /**
   * Keeps a failed completion as a dead letter and returns its id. Never throws and never waits: the letter is
   * scrubbed of secrets here and stored in the background (the queue, else the spool file).
   */
  record(letter: NewDeadLetter): string {
    return this.keep(letter).id;
  }

  /**
   * Keeps a failed completion as a dead letter and resolves once it is durable: in the queue (BullMQ
   * acknowledged the add) or in the spool file (its line fdatasynced), `lost` when neither took it. Never
   * rejects. The completion path awaits this before the client hears of the failure, so a letter the client
   * was told about survives a crash of this process. While Redis is known to be down the letter goes straight
   * to the spool, without waiting for a Redis deadline.
   */
  async recordDurably(letter: NewDeadLetter): Promise<RecordedLetter> {
    const { id, stored } = this.keep(letter);
    return { id, storedAs: await stored };
  }

  /** Scrubs the letter, starts storing it, and tells the listeners; never throws. */
  private keep(letter: NewDeadLetter): { id: string; stored: Promise<StoredAs> } {
    const id = `dl-${randomUUID().replaceAll('-', '')}`;
    try {
      // Credentials first (always), then PII in the prompt and messages (sanitization.dead_letters).
      const scrubbed = scrubLetter(letter, this.secrets);
      const stored: DeadLetter = {
        ...scrubbed,
        request: this.sanitization.scrubStored(scrubbed.request),
        errorMessage: this.sanitization.scrubStored(scrubbed.errorMessage),
        attempts: this.sanitization.scrubStored(scrubbed.attempts),
        id,
        replays: [],
      };
      const task: Promise<StoredAs> = this.store(stored)
        .catch((err: unknown): StoredAs => {
          this.log.error({ err, dead_letter_id: id }, 'dead letter not stored');
          return 'lost';
        })
        .finally(() => this.inFlight.delete(task));
      this.inFlight.add(task);
      for (const listener of this.listeners) listener(stored);
      return { id, stored: task };
    } catch (err) {
      this.log.error({ err, dead_letter_id: id }, 'dead letter not recorded');
      return { id, stored: Promise.resolve('lost') };
    }
  }

  /** Hears every letter recorded on this node (already scrubbed of secrets). Returns the unsubscribe. */
  onRecorded(listener: (letter: DeadLetter) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Resolves once every letter recorded so far is stored (queue or spool). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** A page of letters, newest failure first, filtered by kind, provider and failure time. */
  async list(query: DeadLetterQuery = {}): Promise<DeadLetterPage> {
    return pageOf(await this.scan(), query);
  }

  /** Every letter meeting the criteria, newest failure first, at most `limit`. */
  async select(criteria: DeadLetterCriteria, limit: number): Promise<DeadLetter[]> {
    return newestFirst((await this.scan()).filter((letter) => meetsCriteria(letter, criteria))).slice(
      0,
      limit,
    );
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    if (!isDeadLetterId(id)) return undefined;
    const job = await this.gate.run(() => this.queue.getJob(id), 'get');
    return job ? letterOf(job) : undefined;
  }

  /** Removes a letter; false when there is none with this id. */
  async delete(id: string): Promise<boolean> {
    if (!isDeadLetterId(id)) return false;
    return this.gate.run(async () => {
      // remove() answers 1 for an id that does not exist too: look first.
      if (!(await this.queue.getJob(id))) return false;
      await this.queue.remove(id);
      return true;
    }, 'delete');
  }

  /** Appends a replay's outcome to the letter (keeping the last MAX_REPLAYS_KEPT); false when it is gone. */
  async recordReplay(id: string, outcome: ReplayOutcome): Promise<boolean> {
    if (!isDeadLetterId(id)) return false;
    return this.gate.run(async () => {
      const job = await this.queue.getJob(id);
      if (!job) return false;
      const letter = letterOf(job);
      await job.updateData({ ...letter, replays: [...letter.replays, outcome].slice(-MAX_REPLAYS_KEPT) });
      return true;
    }, 'record replay');
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.retryTimer);
    // Letters still being stored land in the queue or, past the deadline, in the spool: none is dropped.
    await this.settled();
    // A Redis that is connected but stalled must not hold the shutdown: the drain and trim get a deadline.
    await withDeadline(Promise.all([this.draining, this.trimming]), this.timeoutMs * 5, 'finishing').catch(
      (err: unknown) => this.log.warn({ err }, 'dead-letter drain or trim cut short by shutdown'),
    );
    try {
      await withDeadline(this.queue.close(), this.timeoutMs, 'closing the dead-letter queue');
    } catch (err) {
      this.log.warn({ err }, 'dead-letter queue did not close cleanly');
    }
    await this.gate.close();
    await this.spool.close();
  }

  private async store(letter: DeadLetter): Promise<StoredAs> {
    let storedAs: StoredAs = 'queue';
    try {
      await this.add(letter);
      this.trimSoon();
    } catch (err) {
      this.gate.warn(err);
      try {
        await this.spool.append(letter);
        storedAs = 'spool';
        this.log.warn({ dead_letter_id: letter.id, spooled: this.spool.pending }, 'dead letter spooled');
      } catch (spoolErr) {
        storedAs = 'lost';
        this.log.error(
          { err: spoolErr, dead_letter_id: letter.id, error_kind: letter.errorKind },
          'dead letter lost: neither Redis nor the spool file took it',
        );
      }
      this.metrics.deadLettersSpooled.set(this.spool.pending);
    }
    this.metrics.deadLetters.labels(letter.errorKind, storedAs).inc();
    return storedAs;
  }

  /** Adds a letter as a job with its own id (adding an id that exists is a no-op). Fails fast without Redis. */
  private async add(letter: DeadLetter): Promise<void> {
    if (!(await this.gate.whenReady(this.timeoutMs)))
      throw new Error(`Redis connection is ${this.client.status}`);
    await withDeadline(
      this.queue.add(letter.errorKind, letter, { jobId: letter.id }),
      this.timeoutMs,
      'storing a dead letter',
    );
  }

  /** Drops the oldest letters beyond `dead_letter_queue_size`; coalesces concurrent requests into one pass. */
  private trimSoon(): void {
    if (this.trimming) {
      this.trimAgain = true;
      return;
    }
    this.trimming = (async () => {
      do {
        this.trimAgain = false;
        const count = await this.queue.getWaitingCount();
        if (count <= this.maxLetters) continue;
        // The wait list, newest first: everything past the first maxLetters is the oldest.
        const oldest = await this.queue.getRanges(['wait'], this.maxLetters, -1, false);
        await Promise.all(oldest.map((id) => this.queue.remove(id)));
        this.log.debug({ removed: oldest.length }, 'oldest dead letters dropped (queue full)');
      } while (this.trimAgain && !this.closed);
    })()
      .catch((err: unknown) => this.gate.warn(err))
      .finally(() => {
        this.trimming = undefined;
      });
  }

  /** Moves spooled letters into the queue; one drain at a time, another pass if asked meanwhile. */
  private drainSoon(): void {
    if (!this.opened) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = (async () => {
      do {
        this.drainAgain = false;
        if (this.closed || this.client.status !== 'ready') return;
        const result = await this.spool.drain((letter) => this.add(letter));
        this.metrics.deadLettersSpooled.set(this.spool.pending);
        if (result.stored > 0 || result.bad > 0) {
          this.log.info(
            { stored: result.stored, bad: result.bad, remaining: result.remaining },
            'spooled dead letters moved to Redis',
          );
        }
        if (result.stored > 0) this.trimSoon();
        if (result.error !== undefined) this.gate.warn(result.error);
      } while (this.drainAgain);
    })()
      .catch((err: unknown) => this.log.error({ err }, 'dead-letter spool drain failed'))
      .finally(() => {
        this.draining = undefined;
      });
  }

  /** Every letter in the queue (newest added first), read in pages. */
  private async scan(): Promise<DeadLetter[]> {
    return this.gate.run(async () => {
      // Keyed by id: a letter added or trimmed between two pages shifts the rest by one.
      const letters = new Map<string, DeadLetter>();
      for (let start = 0; ; start += SCAN_PAGE) {
        const jobs = await this.queue.getJobs(['wait'], start, start + SCAN_PAGE - 1, false);
        for (const job of jobs) if (job) letters.set(job.data.id, letterOf(job));
        if (jobs.length < SCAN_PAGE) return [...letters.values()];
      }
    }, 'list');
  }
}

/** A job's letter; `replays` is always an array. */
function letterOf(job: Job<DeadLetter, void>): DeadLetter {
  return { ...job.data, replays: job.data.replays ?? [] };
}
