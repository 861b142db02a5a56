import type Redis from 'ioredis';
import type { ChainableCommander } from 'ioredis';
import type { AppLogger } from '../../common/logging/logger';
import { isTerminal, type StreamEvent } from '../../contract/stream-event';
import type { CompletionSummary } from './completion-state';
import type { HubKeys } from './hub-keys';

/** What the mirror needs of a completion its node runs. */
export interface MirroredStream {
  readonly completionId: string;
  readonly model: string;
  readonly provider: string;
  /** The newest event's sequence number. */
  readonly head: number;
  /** Its events after `from` up to `to` (held until written: the log drops only what Redis has). */
  between(from: number, to: number): StreamEvent[];
  /** Set once the terminal event is in. */
  readonly done: boolean;
  /** The registry entry (the lease's value). */
  registryEntry(): string;
  /** Its summary now (the running one, or the final one once done). */
  summary(): CompletionSummary;
  /** Queues what announces it (after its registration, in the same pipeline). */
  announce?(pipeline: ChainableCommander): void;
  /** Until then (ms) a follower on another node reads it: its events are written as they come meanwhile. */
  readonly remoteReadUntil: number;
  /** Called once everything, the final summary included, is in Redis (or given up on). */
  settled(): void;
  /** Mirror state: registered in Redis, events confirmed written, final summary written, in the next batch. */
  mirror: { registered: boolean; written: number; finished: boolean; startedAt: number; queued: boolean };
}

export interface MirrorOptions {
  leaseTtlMs: number;
  retentionMs: number;
  /** Events kept per stream (XADD MAXLEN ~). */
  limit: number;
  /** How long events wait to be written together. */
  flushMs: number;
  /** How often the events of a running stream no other node follows are written. */
  unfollowedFlushMs: number;
}

/**
 * A run of a completion's events is one Redis Stream entry: id `0-<seq of its last event>`, field `b` the
 * events' JSON array (the first follows the previous entry's last); the first entry and the terminal one also
 * name the model `m` and provider `p`, and the terminal one is marked `t`. One XADD per stream per batch, however
 * many events it holds: per event, the serialization, the command's arguments and Redis's own work would cost
 * more than the events themselves.
 */
const BATCH_FIELD = 'b';

/**
 * A batch's JSON: its events without their `completionId` (the key names it; the reader puts it back), which
 * is most of a content chunk's bytes; content chunks, nearly every event, are written without a generic
 * stringify of the object.
 */
export function batchJson(events: readonly StreamEvent[]): string {
  let json = '[';
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (i > 0) json += ',';
    if (event.type === 'content_chunk') {
      json += `{"type":"content_chunk","content":${JSON.stringify(event.content)},"index":${event.index}}`;
    } else {
      const { completionId: _id, ...rest } = event;
      json += JSON.stringify(rest);
    }
  }
  return `${json}]`;
}

/** XADD's refusal of an id at or below the stream's top: that entry was written before (a retry). */
const WRITTEN_BEFORE = 'equal or smaller';

/** Streams written in one pipeline at most (the rest go in the next). */
const MAX_STREAMS_PER_FLUSH = 256;

/** Events of one stream written in one batch at most (the rest go in the next). */
const MAX_EVENTS_PER_FLUSH = 512;

/** Redis answered nothing (down) or refused: try the rest again this much later. */
const RETRY_MS = 1_000;
/** A stream Redis could not take for this long is given up on (its followers elsewhere were told). */
const GIVE_UP_MS = 5 * 60_000;

/**
 * Writes the completions a node runs to Redis: registry entry, events (Redis Streams, `XADD … MAXLEN`), summary.
 * Nothing waits on it: events are written in batches, one pipeline for every stream with news since the last
 * (a burst, or `flush_interval`), and leases are renewed in small pipelines, each on its own schedule. A stream
 * is registered with its first events at once and written whole at its end at once, and written as its events
 * come for its first `unfollowed_flush_interval`; after that, while no follower on another node reads it, its
 * events are written every `unfollowed_flush_interval` (one XADD per stream per interval, not one per provider
 * chunk: the per-chunk Redis work is most of a slow stream's cost), and as they come once one does (its
 * follower tells the owner, and the owner writes what is pending then).
 * While Redis is away, writes are retried from the last confirmed event (the log in memory is whole), so
 * followers on other nodes get a complete stream once it is back.
 */
export class HubMirror {
  private readonly dirty = new Set<MirroredStream>();
  /** Running streams nobody elsewhere follows, with events to write at the next unfollowed flush. */
  private readonly unfollowed = new Set<MirroredStream>();
  private unfollowedTimer?: NodeJS.Timeout;
  private readonly running = new Set<MirroredStream>();
  /** Registered streams still running: when their lease, and their state and events' expiry, were set. */
  private readonly renewals = new Map<MirroredStream, Renewal>();
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private flushing = false;
  private readonly leaseTimer: NodeJS.Timeout;
  private lastErrorLogAt = 0;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: HubKeys,
    private readonly options: MirrorOptions,
    private readonly log: AppLogger,
  ) {
    this.leaseTimer = setInterval(() => this.refreshLeases(), renewTick(options.leaseTtlMs));
    this.leaseTimer.unref();
  }

  /** A stream started or has new events: written in the next batch. */
  note(stream: MirroredStream): void {
    // Per event: a stream already waiting for the next batch costs one check.
    if (stream.mirror.queued || this.stopped) return;
    if (this.waits(stream)) return this.later(stream);
    this.unfollowed.delete(stream);
    stream.mirror.queued = true;
    this.running.add(stream);
    this.dirty.add(stream);
    // One not registered yet is written at once: the hub notes it when its id is about to be told (its first
    // events, or its launch), and a client may ask another node for it as soon as it has the id.
    this.schedule(stream.mirror.registered ? this.options.flushMs : 0);
  }

  /** A follower elsewhere has started reading it: what it has pending is written now, the rest as it comes. */
  hurry(stream: MirroredStream): void {
    if (this.unfollowed.has(stream)) this.note(stream);
  }

  /** Writes what is pending now (shutdown, tests); resolves once Redis answered. */
  async flushNow(): Promise<void> {
    this.clearTimers();
    this.queueUnfollowed();
    // One pipeline per MAX_STREAMS_PER_FLUSH streams (a stream Redis refused stays for the retry timer).
    const rounds = Math.max(1, Math.ceil(this.dirty.size / MAX_STREAMS_PER_FLUSH));
    for (let i = 0; i < rounds; i++) {
      while (this.flushing) await new Promise((resolve) => setTimeout(resolve, 1));
      await this.flush();
    }
  }

  /**
   * Registered, running past its first interval (when followers elsewhere usually join: written as it comes,
   * they find it in Redis already), and read by no other node: its events can wait for the unfollowed flush.
   */
  private waits(stream: MirroredStream): boolean {
    const { mirror } = stream;
    if (!mirror.registered || stream.done) return false;
    const now = Date.now();
    return stream.remoteReadUntil <= now && now - mirror.startedAt >= this.options.unfollowedFlushMs;
  }

  private later(stream: MirroredStream): void {
    this.unfollowed.add(stream);
    this.unfollowedTimer ??= setTimeout(() => this.flushUnfollowed(), this.options.unfollowedFlushMs).unref();
  }

  private flushUnfollowed(): void {
    this.unfollowedTimer = undefined;
    this.queueUnfollowed();
    this.schedule(0);
  }

  private queueUnfollowed(): void {
    for (const stream of this.unfollowed) {
      if (stream.mirror.queued) continue;
      stream.mirror.queued = true;
      this.running.add(stream);
      this.dirty.add(stream);
    }
    this.unfollowed.clear();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    clearInterval(this.leaseTimer);
  }

  /** Streams written or still to be written (for diagnostics). */
  get size(): number {
    return this.running.size;
  }

  private schedule(delayMs: number): void {
    if (this.flushing || this.timer || this.ticking) return;
    if (delayMs > 0) {
      this.timer = setTimeout(() => void this.flush(), delayMs);
      return;
    }
    // Once the work of this turn is done (a burst from one upstream read, its promise chains included), not at
    // the next turn of the loop: on a busy node that would wait behind every other request's I/O.
    this.ticking = true;
    process.nextTick(() => {
      this.ticking = false;
      void this.flush();
    });
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.unfollowedTimer) clearTimeout(this.unfollowedTimer);
    this.unfollowedTimer = undefined;
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (this.dirty.size === 0 || this.flushing) return;
    this.flushing = true;
    // At most MAX_STREAMS_PER_FLUSH streams per pipeline: thousands of streams starting at once would otherwise
    // be one synchronous pass building tens of thousands of commands (a stall of the event loop); the rest go
    // in the next pipeline, once Redis answered this one.
    const batch: MirroredStream[] = [];
    for (const stream of this.dirty) {
      batch.push(stream);
      this.dirty.delete(stream);
      stream.mirror.queued = false;
      if (batch.length === MAX_STREAMS_PER_FLUSH) break;
    }
    const pipeline = this.redis.pipeline();
    const plans = batch.map((stream) => this.plan(pipeline, stream));
    let results: Array<[Error | null, unknown]> | null = null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      this.trouble(err);
    }
    this.flushing = false;
    let retry = false;
    let at = 0;
    for (let i = 0; i < batch.length; i++) {
      const stream = batch[i]!;
      const plan = plans[i]!;
      const slice = results?.slice(at, at + plan.commands) ?? [];
      at += plan.commands;
      if (!this.settle(stream, plan, slice)) retry = true;
    }
    for (const stream of batch) {
      if (stream.mirror.written < stream.head || (stream.done && !stream.mirror.finished)) {
        if (this.running.has(stream) && !stream.mirror.queued) {
          if (this.waits(stream)) {
            this.later(stream);
          } else {
            stream.mirror.queued = true;
            this.dirty.add(stream);
          }
        }
      }
    }
    if (retry) {
      this.schedule(RETRY_MS);
    } else if (this.dirty.size > 0) this.schedule(this.options.flushMs);
  }

  /** Queues one stream's writes; returns what they were. */
  private plan(pipeline: ChainableCommander, stream: MirroredStream): Plan {
    const { completionId: id, mirror } = stream;
    const head = stream.head;
    const { leaseTtlMs, retentionMs, limit } = this.options;
    let commands = 0;
    const register = !mirror.registered;
    // Ended before its first write (a non-streaming answer, a short stream): written whole, with no lease or
    // index entry to make and remove at once.
    const whole = register && stream.done && head <= MAX_EVENTS_PER_FLUSH;
    if (register && !whole) {
      pipeline.set(this.keys.lease(id), stream.registryEntry(), 'PX', leaseTtlMs);
      pipeline.set(this.keys.state(id), JSON.stringify(stream.summary()), 'PX', retentionMs);
      pipeline.zadd(this.keys.index, mirror.startedAt, id);
      commands += 3;
      if (stream.announce) {
        stream.announce(pipeline);
        commands++;
      }
    }
    const registerCommands = commands;
    const from = mirror.written;
    const to = Math.min(head, from + MAX_EVENTS_PER_FLUSH);
    let expires = false;
    if (to > from) {
      const key = this.keys.events(id);
      const events = stream.between(from, to);
      const terminal = isTerminal(events[events.length - 1]!);
      const fields: Array<string | number> = [BATCH_FIELD, batchJson(events)];
      if (from === 0 || terminal) fields.push('m', stream.model, 'p', stream.provider);
      if (terminal) fields.push('t', 1);
      // Trimmed by sequence number (MINID), so about `limit` events are kept whatever the batches held.
      const trim = to > limit ? ['MINID', '~', `0-${to - limit}`] : [];
      pipeline.xadd(key, ...trim, `0-${to}`, ...fields);
      commands++;
      // The expiry is set with the first entry and at the end; leases refresh it in between.
      expires = from === 0 || terminal;
      if (expires) {
        pipeline.pexpire(key, retentionMs);
        commands++;
      }
    }
    const finish = stream.done && !mirror.finished && to === head;
    if (finish) {
      // In order: the terminal event is in before the lease goes, so a follower that sees the lease gone
      // finds the end (not a lost owner).
      pipeline.set(this.keys.state(id), JSON.stringify(stream.summary()), 'PX', retentionMs);
      commands++;
      if (whole) {
        // Announced once it can be read.
        if (stream.announce) {
          stream.announce(pipeline);
          commands++;
        }
      } else {
        pipeline.del(this.keys.lease(id));
        pipeline.zrem(this.keys.index, id);
        commands += 2;
      }
    }
    return { register, whole, registerCommands, from, to, expires, finish, commands };
  }

  /** Applies a batch's answers to one stream; false when something must be tried again. */
  private settle(stream: MirroredStream, plan: Plan, results: Array<[Error | null, unknown]>): boolean {
    const { mirror } = stream;
    if (results.length < plan.commands) return this.unwritten(stream);
    let i = 0;
    if (plan.register && !plan.whole) {
      if (results[0]?.[0] || results[1]?.[0]) return this.unwritten(stream);
      mirror.registered = true;
      const now = Date.now();
      if (!stream.done) this.renewals.set(stream, { leasedAt: now, keptAt: now });
      i = plan.registerCommands;
    }
    if (plan.to > plan.from) {
      const refused = results[i]?.[0];
      if (refused && !refused.message.includes(WRITTEN_BEFORE)) return this.unwritten(stream);
      if (plan.expires && results[i + 1]?.[0]) return this.unwritten(stream);
      mirror.written = plan.to;
      i += plan.expires ? 2 : 1;
    }
    if (plan.finish) {
      if (results[i]?.[0]) return this.unwritten(stream);
      mirror.registered = true;
      mirror.finished = true;
      this.running.delete(stream);
      this.renewals.delete(stream);
      stream.settled();
    }
    return true;
  }

  private unwritten(stream: MirroredStream): false {
    if (stream.done && Date.now() - stream.mirror.startedAt > GIVE_UP_MS) {
      this.running.delete(stream);
      this.renewals.delete(stream);
      stream.settled();
    }
    return false;
  }

  /**
   * Keeps every running stream's lease alive (renewed once a third of it has passed) and its summary and events
   * kept (their expiry pushed back once a quarter of the retention has passed). Each stream is renewed on its
   * own schedule, checked every tick, so that thousands of streams make a steady trickle of small pipelines,
   * not one pipeline of every stream at once (a stall of the event loop, and of Redis).
   */
  private refreshLeases(): void {
    if (this.renewals.size === 0) return;
    const pipeline = this.redis.pipeline();
    const { leaseTtlMs, retentionMs } = this.options;
    const now = Date.now();
    const leaseDue = now - leaseTtlMs / 3;
    const keepDue = now - retentionMs / 4;
    for (const [stream, renewal] of this.renewals) {
      if (stream.done) continue;
      const id = stream.completionId;
      if (renewal.leasedAt <= leaseDue) {
        pipeline.pexpire(this.keys.lease(id), leaseTtlMs);
        renewal.leasedAt = now;
      }
      if (renewal.keptAt <= keepDue) {
        pipeline.pexpire(this.keys.state(id), retentionMs);
        pipeline.pexpire(this.keys.events(id), retentionMs);
        renewal.keptAt = now;
      }
    }
    if (pipeline.length === 0) return;
    pipeline.exec().catch((err: unknown) => this.trouble(err));
  }

  private trouble(err: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorLogAt < 30_000) return;
    this.lastErrorLogAt = now;
    this.log.warn(
      { err: { message: err instanceof Error ? err.message : String(err) } },
      'stream hub: events not written to Redis yet (retrying); local followers are unaffected',
    );
  }
}

interface Renewal {
  /** When its lease was last set (ms). */
  leasedAt: number;
  /** When its summary's and events' expiry was last set. */
  keptAt: number;
}

/** How often renewals are looked for: a twelfth of the lease, between 50 and 250 ms. */
function renewTick(leaseTtlMs: number): number {
  return Math.min(250, Math.max(50, Math.floor(leaseTtlMs / 12)));
}

interface Plan {
  register: boolean;
  /** The whole stream in one go: no lease or index entry (it ended before its first write). */
  whole: boolean;
  /** The registration's commands (its announcement included) before the events'. */
  registerCommands: number;
  from: number;
  to: number;
  /** Its event entry is followed by the events' PEXPIRE. */
  expires: boolean;
  finish: boolean;
  commands: number;
}
