import type Redis from 'ioredis';
import type { ChainableCommander } from 'ioredis';
import type { AppLogger } from '../../common/logging/logger';
import type { StreamEvent } from '../../contract/stream-event';
import type { CompletionSummary } from './completion-state';
import type { HubKeys } from './hub-keys';

/** What the mirror needs of a completion its node runs. */
export interface MirroredStream {
  readonly completionId: string;
  readonly model: string;
  readonly provider: string;
  readonly events: readonly StreamEvent[];
  /** Set once the terminal event is in. */
  readonly done: boolean;
  /** The registry entry (the lease's value). */
  registryEntry(): string;
  /** Its summary now (the running one, or the final one once done). */
  summary(): CompletionSummary;
  /** Called once everything, the final summary included, is in Redis (or given up on). */
  settled(): void;
  /** Mirror state: registered in Redis, events confirmed written, final summary written. */
  mirror: { registered: boolean; written: number; finished: boolean; startedAt: number };
}

export interface MirrorOptions {
  leaseTtlMs: number;
  retentionMs: number;
  /** Events kept per stream (XADD MAXLEN ~). */
  limit: number;
  /** How long events wait to be written together. */
  flushMs: number;
}

/**
 * Appends a run of events to a completion's Redis Stream as entries `0-<seq>` (field `e` the event's JSON; the
 * first and the terminal one also name the model `m` and provider `p`; the terminal one is marked `t`), trimmed
 * to MAXLEN, and refreshes its expiry. An id at or below the stream's top was written before (a retry whose
 * answer was lost) and is skipped. KEYS: events. ARGV: maxlen, retention ms, first seq, model, provider, then
 * (json, kind) per event, kind 0 plain, 1 first, 2 terminal.
 */
const APPEND_SCRIPT = `
local key = KEYS[1]
local maxlen = ARGV[1]
local seq = tonumber(ARGV[3])
for i = 6, #ARGV, 2 do
  local id = '0-' .. seq
  local kind = ARGV[i + 1]
  if kind == '0' then
    redis.pcall('XADD', key, 'MAXLEN', '~', maxlen, id, 'e', ARGV[i])
  elseif kind == '1' then
    redis.pcall('XADD', key, 'MAXLEN', '~', maxlen, id, 'e', ARGV[i], 'm', ARGV[4], 'p', ARGV[5])
  else
    redis.pcall('XADD', key, 'MAXLEN', '~', maxlen, id, 'e', ARGV[i], 'm', ARGV[4], 'p', ARGV[5], 't', '1')
  end
  seq = seq + 1
end
redis.call('PEXPIRE', key, ARGV[2])
return seq - 1`;

interface MirrorCommands {
  cbHubAppend(key: string, ...args: Array<string | number>): ChainableCommander;
}

/** Events of one stream written in one batch at most (the rest go in the next). */
const MAX_EVENTS_PER_FLUSH = 512;

/** Redis answered nothing (down) or refused: try the rest again this much later. */
const RETRY_MS = 1_000;
/** A stream Redis could not take for this long is given up on (its followers elsewhere were told). */
const GIVE_UP_MS = 5 * 60_000;

/**
 * Writes the completions a node runs to Redis: registry entry, events (Redis Streams, `XADD … MAXLEN`), summary.
 * Nothing waits on it: events are written in batches, one pipeline for every stream with news since the last
 * (a burst, or `flush_interval`), and leases are refreshed in one pipeline every third of their lifetime. While
 * Redis is away, writes are retried from the last confirmed event (the log in memory is whole), so followers on
 * other nodes get a complete stream once it is back.
 */
export class HubMirror {
  private readonly dirty = new Set<MirroredStream>();
  private readonly running = new Set<MirroredStream>();
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
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
    redis.defineCommand('cbHubAppend', { numberOfKeys: 1, lua: APPEND_SCRIPT });
    this.leaseTimer = setInterval(() => this.refreshLeases(), Math.max(250, options.leaseTtlMs / 3));
    this.leaseTimer.unref();
  }

  /** A stream started or has new events: written in the next batch. */
  note(stream: MirroredStream): void {
    if (this.stopped) return;
    this.running.add(stream);
    this.dirty.add(stream);
    // A new stream is registered at once (its client may ask another node for it as soon as it has the id).
    this.schedule(stream.mirror.registered ? this.options.flushMs : 0);
  }

  /** Writes what is pending now (shutdown, tests); resolves once Redis answered. */
  async flushNow(): Promise<void> {
    while (this.flushing) await new Promise((resolve) => setTimeout(resolve, 1));
    this.clearTimers();
    await this.flush();
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
    if (this.flushing || this.timer || this.immediate) return;
    if (delayMs <= 0) this.immediate = setImmediate(() => void this.flush());
    else this.timer = setTimeout(() => void this.flush(), delayMs);
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    this.immediate = undefined;
    if (this.dirty.size === 0 || this.flushing) return;
    this.flushing = true;
    const batch = [...this.dirty];
    this.dirty.clear();
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
      if (stream.mirror.written < stream.events.length || (stream.done && !stream.mirror.finished)) {
        if (this.running.has(stream)) this.dirty.add(stream);
      }
    }
    if (retry) {
      this.schedule(RETRY_MS);
    } else if (this.dirty.size > 0) this.schedule(this.options.flushMs);
  }

  /** Queues one stream's writes; returns what they were. */
  private plan(pipeline: ChainableCommander, stream: MirroredStream): Plan {
    const { completionId: id, mirror, events } = stream;
    const { leaseTtlMs, retentionMs, limit } = this.options;
    let commands = 0;
    const register = !mirror.registered;
    if (register) {
      pipeline.set(this.keys.lease(id), stream.registryEntry(), 'PX', leaseTtlMs);
      pipeline.set(this.keys.state(id), JSON.stringify(stream.summary()), 'PX', retentionMs);
      pipeline.zadd(this.keys.index, mirror.startedAt, id);
      commands += 3;
    }
    const from = mirror.written;
    // At most MAX_EVENTS_PER_FLUSH a stream per batch, all of them in one command (a script appending them
    // to the Redis Stream): a Command object per event would cost the node more than the events themselves.
    const to = Math.min(events.length, from + MAX_EVENTS_PER_FLUSH);
    if (to > from) {
      const args: Array<string | number> = [limit, retentionMs, from + 1, stream.model, stream.provider];
      for (let seq = from + 1; seq <= to; seq++) {
        const event = events[seq - 1]!;
        const terminal = event.type === 'completed' || event.type === 'error';
        args.push(JSON.stringify(event), terminal ? 2 : seq === 1 ? 1 : 0);
      }
      (pipeline as ChainableCommander & MirrorCommands).cbHubAppend(this.keys.events(id), ...args);
      commands++;
    }
    const finish = stream.done && !mirror.finished && to === events.length;
    if (finish) {
      // In order: the terminal event is in before the lease goes, so a follower that sees the lease gone
      // finds the end (not a lost owner).
      pipeline.set(this.keys.state(id), JSON.stringify(stream.summary()), 'PX', retentionMs);
      pipeline.del(this.keys.lease(id));
      pipeline.zrem(this.keys.index, id);
      commands += 3;
    }
    return { register, from, to, finish, commands };
  }

  /** Applies a batch's answers to one stream; false when something must be tried again. */
  private settle(stream: MirroredStream, plan: Plan, results: Array<[Error | null, unknown]>): boolean {
    const { mirror } = stream;
    if (results.length < plan.commands) return this.unwritten(stream);
    let i = 0;
    if (plan.register) {
      if (results[0]?.[0] || results[1]?.[0]) return this.unwritten(stream);
      mirror.registered = true;
      i = 3;
    }
    if (plan.to > plan.from) {
      if (results[i]?.[0]) return this.unwritten(stream);
      mirror.written = plan.to;
      i++;
    }
    if (plan.finish) {
      if (results[i]?.[0]) return this.unwritten(stream);
      mirror.finished = true;
      this.running.delete(stream);
      stream.settled();
    }
    return true;
  }

  private unwritten(stream: MirroredStream): false {
    if (stream.done && Date.now() - stream.mirror.startedAt > GIVE_UP_MS) {
      this.running.delete(stream);
      stream.settled();
    }
    return false;
  }

  /** Every running stream's lease, summary and events live on: one pipeline. */
  private refreshLeases(): void {
    if (this.running.size === 0) return;
    const pipeline = this.redis.pipeline();
    const { leaseTtlMs, retentionMs } = this.options;
    for (const stream of this.running) {
      if (!stream.mirror.registered || stream.done) continue;
      const id = stream.completionId;
      pipeline.pexpire(this.keys.lease(id), leaseTtlMs);
      pipeline.pexpire(this.keys.state(id), retentionMs);
      pipeline.pexpire(this.keys.events(id), retentionMs);
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

interface Plan {
  register: boolean;
  from: number;
  to: number;
  finish: boolean;
  commands: number;
}
