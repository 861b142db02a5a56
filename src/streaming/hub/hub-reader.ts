import type Redis from 'ioredis';
import type { AppLogger } from '../../common/logging/logger';
import { StreamErrorCode } from '../../contract/error-code';
import type { ErrorEvent, StreamEvent } from '../../contract/stream-event';
import type { RemoteFollower } from './followers';
import { type HubKeys, seqOf } from './hub-keys';

/**
 * Marks a completion whose owner is gone (its lease expired before its terminal event): appends an error
 * event as its last, unless the lease is there or the stream has ended. Returns the new event's seq, 0 when
 * the owner is alive, -1 when the stream had ended. KEYS: lease, events. ARGV: the error event's JSON,
 * retention ms.
 */
const MARK_LOST_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local seq = 0
if #last > 0 then
  seq = tonumber(string.match(last[1][1], '-(%d+)$'))
  local fields = last[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 't' then return -1 end
  end
end
seq = seq + 1
redis.call('XADD', KEYS[2], '0-' .. seq, 'e', ARGV[1], 't', '1')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return seq`;

interface ReaderRedis extends Redis {
  cbHubMarkLost(lease: string, events: string, event: string, retentionMs: number): Promise<number>;
}

/** Followers on this node of one completion another node runs. */
interface Group {
  completionId: string;
  followers: Set<RemoteFollower>;
  /** When an entry last arrived (or the group was made): quiet groups get their owner's lease checked. */
  heardAt: number;
}

type StreamEntries = Array<[string, string[]]>;

/**
 * XREAD's answer: under RESP2 an array of `[key, entries]` pairs; under RESP3 (ioredis 6's default protocol)
 * a map, which ioredis's legacy reply mapping flattens to `[key, entries, key, entries, …]`.
 */
type XReadReply = Array<[string, StreamEntries]> | Array<string | StreamEntries> | null;

/** The `[key, entries]` pairs of an XREAD answer, whichever protocol the connection speaks. */
export function streamsOf(reply: NonNullable<XReadReply>): Array<[string, StreamEntries]> {
  if (reply.length === 0 || Array.isArray(reply[0])) return reply as Array<[string, StreamEntries]>;
  const pairs: Array<[string, StreamEntries]> = [];
  const flat = reply as Array<string | StreamEntries>;
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] as string, flat[i + 1] as StreamEntries]);
  return pairs;
}

const BLOCK_MS = 1_000;
const COUNT = 256;
/** A followed stream this long without an entry has its owner's lease checked. */
const QUIET_MS = 1_000;
const RECONNECT_PAUSE_MS = 500;

/**
 * The node's one reader of other nodes' completions: a single connection blocked in `XREAD` over every stream
 * followed here (history and live in one read: from each one's last seq), woken with `CLIENT UNBLOCK` when the
 * set changes. A stream whose owner's lease lapsed without an end gets a `stream_owner_lost` event (written to
 * the stream itself, so every follower on every node reads the same end); a lost Redis ends every remote
 * follower with a retryable `service_unavailable`.
 */
export class HubReader {
  private readonly groups = new Map<string, Group>();
  private readonly connection: Redis;
  private clientId?: number;
  private blocking = false;
  private unblocking = false;
  private changed = false;
  private idle?: () => void;
  private stopped = false;
  private lastLivenessAt = 0;

  constructor(
    private readonly commands: Redis,
    private readonly keys: HubKeys,
    private readonly retentionMs: number,
    private readonly log: AppLogger,
  ) {
    commands.defineCommand('cbHubMarkLost', { numberOfKeys: 2, lua: MARK_LOST_SCRIPT });
    this.connection = commands.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    this.connection.on('error', () => undefined); // the shared client reports Redis trouble
    this.connection.on('ready', () => {
      this.connection
        .call('CLIENT', 'ID')
        .then((id) => (this.clientId = Number(id)))
        .catch(() => undefined);
    });
    void this.loop();
  }

  /** Starts feeding a follower (from its `lastRead`). */
  add(follower: RemoteFollower): void {
    let group = this.groups.get(follower.completionId);
    if (!group) {
      group = { completionId: follower.completionId, followers: new Set(), heardAt: Date.now() };
      this.groups.set(follower.completionId, group);
    }
    group.followers.add(follower);
    this.wake();
  }

  remove(follower: RemoteFollower): void {
    const group = this.groups.get(follower.completionId);
    if (!group?.followers.delete(follower)) return;
    if (group.followers.size === 0) this.groups.delete(follower.completionId);
  }

  /** A follower has room again, or the set changed: the blocked read starts over with it. */
  wake(): void {
    this.changed = true;
    if (this.idle) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
      return;
    }
    this.requestUnblock();
  }

  /** Completion ids followed from here (for keepalives to their owners). */
  followed(): IterableIterator<string> {
    return this.groups.keys();
  }

  stop(reason: StreamEvent | undefined): void {
    this.stopped = true;
    if (reason) this.failAll(() => reason);
    this.groups.clear();
    this.idle?.();
    this.connection.disconnect();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const keys: string[] = [];
      const after: string[] = [];
      // Where this read starts, per completion: a follower that joins while it is in flight (further back) is
      // not handed its answer, which starts past that follower's place; the next read covers it.
      const reading = new Map<string, number>();
      for (const group of this.groups.values()) {
        let from = Infinity;
        for (const follower of group.followers) if (!follower.full) from = Math.min(from, follower.lastRead);
        if (from === Infinity) continue;
        keys.push(this.keys.events(group.completionId));
        after.push(`0-${from}`);
        reading.set(group.completionId, from);
      }
      this.changed = false;
      if (keys.length === 0) {
        await new Promise<void>((resolve) => (this.idle = resolve));
        continue;
      }
      let reply: XReadReply;
      try {
        this.blocking = true;
        // Lower case on purpose: ioredis speaks RESP3, where XREAD answers a map; only its `xread` reply
        // transformer turns that into the [key, entries][] this reads (`'XREAD'` gets a flat [key, entries, ...]).
        reply = (await this.connection.call(
          'xread',
          'COUNT',
          COUNT,
          'BLOCK',
          this.changed ? 1 : BLOCK_MS,
          'STREAMS',
          ...keys,
          ...after,
        )) as XReadReply;
      } catch (err) {
        this.blocking = false;
        if (this.stopped) return;
        this.lost(err);
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_PAUSE_MS));
        continue;
      }
      this.blocking = false;
      if (reply) this.dispatch(reply, reading);
      await this.checkOwners();
    }
  }

  private dispatch(reply: NonNullable<XReadReply>, reading: ReadonlyMap<string, number>): void {
    const now = Date.now();
    for (const [key, entries] of streamsOf(reply)) {
      const id = key.slice(key.lastIndexOf('stream:') + 7, key.length - 7);
      const group = this.groups.get(id);
      if (!group) continue;
      group.heardAt = now;
      const from = reading.get(id) ?? 0;
      const covered = [...group.followers].filter((follower) => follower.lastRead >= from);
      for (const [entryId, fields] of entries) {
        const last = seqOf(entryId);
        let events: StreamEvent[] | undefined;
        let terminal = false;
        let model: string | undefined;
        let provider: string | undefined;
        for (let i = 0; i < fields.length; i += 2) {
          const value = fields[i + 1]!;
          // Fields come in name/value pairs; a name this reader does not know is skipped.
          switch (fields[i]!) {
            case 'b':
              // A batch's events are written without their completionId (the key names it).
              events = JSON.parse(value) as StreamEvent[];
              for (const event of events) event.completionId = id;
              break;
            case 'e':
              events = [JSON.parse(value) as StreamEvent];
              break;
            case 't':
              terminal = true;
              break;
            case 'm':
              model = value;
              break;
            case 'p':
              provider = value;
              break;
          }
        }
        if (!events) continue;
        // The entry's events end at its id's seq; a follower past some of them skips those.
        const first = last - events.length + 1;
        for (const follower of covered) {
          if (model !== undefined) follower.model = model;
          if (provider !== undefined) follower.provider = provider;
          for (let k = 0; k < events.length; k++)
            follower.push(first + k, events[k]!, terminal && k === events.length - 1);
        }
      }
      for (const follower of group.followers) if (follower.finished) group.followers.delete(follower);
      if (group.followers.size === 0) this.groups.delete(id);
    }
  }

  /** Once a second: streams gone quiet whose owner's lease has lapsed get their `stream_owner_lost` end. */
  private async checkOwners(): Promise<void> {
    const now = Date.now();
    if (now - this.lastLivenessAt < QUIET_MS) return;
    this.lastLivenessAt = now;
    const quiet = [...this.groups.values()].filter((group) => now - group.heardAt >= QUIET_MS);
    await Promise.all(
      quiet.map(async (group) => {
        const id = group.completionId;
        try {
          const seq = await (this.commands as ReaderRedis).cbHubMarkLost(
            this.keys.lease(id),
            this.keys.events(id),
            JSON.stringify(ownerLost(id)),
            this.retentionMs,
          );
          if (seq > 0)
            this.log.warn({ completion_id: id }, 'stream owner lost: its lease expired mid-stream');
        } catch {
          // Redis trouble: the blocked read reports it.
        }
      }),
    );
  }

  /** Redis went away under the read: every remote follower ends, told to retry. */
  private lost(err: unknown): void {
    if (this.groups.size === 0) return;
    this.log.warn(
      { err: { message: err instanceof Error ? err.message : String(err) }, followers: this.groups.size },
      'stream hub: Redis lost; followers of other nodes’ streams end with service_unavailable',
    );
    this.failAll((id) => unavailable(id));
    this.groups.clear();
  }

  private failAll(eventFor: (completionId: string) => StreamEvent): void {
    for (const group of this.groups.values()) {
      for (const follower of group.followers) follower.fail(eventFor(group.completionId));
    }
  }

  /**
   * Ends the blocked read so the next one covers what changed: one CLIENT UNBLOCK at a time however many
   * followers come and go meanwhile (a hundred joining at once cost one re-read, not a hundred), and again
   * afterwards when something changed after the read now blocked was made.
   */
  private requestUnblock(): void {
    if (!this.blocking || this.unblocking) return;
    this.unblocking = true;
    void this.unblock().finally(() => {
      this.unblocking = false;
      if (this.changed) this.requestUnblock();
    });
  }

  /** CLIENT UNBLOCK of the reader's connection; tried again briefly while its read has not reached Redis. */
  private async unblock(): Promise<void> {
    for (let attempt = 0; this.clientId !== undefined && this.blocking && this.changed; attempt++) {
      try {
        const done = Number(await this.commands.call('CLIENT', 'UNBLOCK', this.clientId));
        if (done === 1 || attempt >= 50) return;
      } catch {
        return; // The read ends by itself within BLOCK_MS.
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
}

export function ownerLost(completionId: string): ErrorEvent {
  return {
    type: 'error',
    completionId,
    error: {
      code: StreamErrorCode.StreamOwnerLost,
      message:
        'The node running this completion stopped before it ended (its lease expired); send the request again.',
      retryable: true,
    },
  };
}

export function unavailable(completionId: string): ErrorEvent {
  return {
    type: 'error',
    completionId,
    error: {
      code: StreamErrorCode.ServiceUnavailable,
      message:
        'Following a completion that runs on another node needs Redis, which is unavailable; retry shortly (resume after the last event you received).',
      retryable: true,
      retryAfterMs: 1_000,
    },
  };
}
