import { settled } from '../common/settled';
import type Redis from 'ioredis';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { isObject } from '../common/is-object';
import { withDeadline } from '../common/with-deadline';
import { redisUnavailable } from '../redis/redis-unavailable';
import {
  Denylist,
  parseRevocation,
  type Revocation,
  type RevocationKind,
  revocationMember,
} from './denylist';
import type { Principal } from '../contract/principal';
import { ADD_LUA, REMOVE_LUA } from './revocation.scripts';

/** Longest wait on Redis for an admin call (revoke, lift, list) before it answers 503. */
const ADMIN_DEADLINE_MS = 2_000;
/** A `jti` revocation may name an expiry at most this far ahead (a token living longer is a mistake). */
const MAX_EXPIRES_AHEAD_MS = 366 * 24 * 3_600_000;

/** What POST /admin/revocations asks for (times in ms since the epoch). */
export type RevocationRequest =
  | { kind: 'jti'; value: string; expiresAt?: number; reason?: string }
  | { kind: 'sub'; value: string; issuedBefore?: number; reason?: string };

export interface RevocationSettings {
  keyPrefix: string;
  /** auth.revocations.max_token_lifetime */
  maxTokenLifetimeMs: number;
  /** auth.revocations.resync_interval */
  resyncIntervalMs: number;
  /** auth.jwt.clock_skew: a token is accepted this long past its exp, so its revocation is kept as long. */
  clockSkewMs: number;
  /** redis.connect_timeout: the longest boot waits for the first read. */
  connectTimeoutMs: number;
}

export interface RevocationListOptions {
  now?: () => number;
  log?: {
    info(fields: Record<string, unknown>, message: string): void;
    warn(fields: Record<string, unknown>, message: string): void;
  };
}

/** Told the revocations that are new to this node (from this node, a message or a re-read). */
export type RevocationListener = (fresh: readonly Revocation[]) => void;

interface RevocationRedis extends Redis {
  cbRevocationAdd(
    index: string,
    data: string,
    version: string,
    member: string,
    record: string,
    retainUntil: number,
    now: number,
    channel: string,
  ): Promise<unknown>;
  cbRevocationRemove(
    index: string,
    data: string,
    version: string,
    member: string,
    channel: string,
    head: string,
  ): Promise<unknown>;
}

/**
 * The token denylist shared by every node (layout in revocation.scripts.ts). Each node holds all of it in
 * memory (`refusal` costs two map lookups and no Redis call), loaded at start, kept current by the pub/sub
 * messages every change publishes, and re-read every `resync_interval` when the list's version moved (a message
 * missed while the subscriber reconnected) and whenever the subscriber reconnects.
 *
 * Redis away: what is known keeps being refused; `revoke`, `lift` and `list` answer 503 (service_unavailable).
 */
export class RevocationList {
  private readonly redis: RevocationRedis;
  private readonly denylist = new Denylist();
  private readonly listeners = new Set<RevocationListener>();
  private readonly index: string;
  private readonly data: string;
  private readonly versionKey: string;
  private readonly channel: string;
  private readonly now: () => number;
  /** The version of the list this node holds (-1: never read). */
  private version = -1;
  private subscriber?: Redis;
  private timer?: NodeJS.Timeout;
  private resyncing?: Promise<void>;
  private closed = false;
  private readonly onReady = () => void this.resync(true);

  constructor(
    redis: Redis,
    private readonly settings: RevocationSettings,
    private readonly options: RevocationListOptions = {},
  ) {
    redis.defineCommand('cbRevocationAdd', { numberOfKeys: 3, lua: ADD_LUA });
    redis.defineCommand('cbRevocationRemove', { numberOfKeys: 3, lua: REMOVE_LUA });
    this.redis = redis as RevocationRedis;
    const prefix = settings.keyPrefix;
    this.index = `${prefix}revocations`;
    this.data = `${prefix}revocations:data`;
    this.versionKey = `${prefix}revocations:version`;
    this.channel = `${prefix}revocations:changes`;
    this.now = options.now ?? Date.now;
  }

  /** Revocations held in memory. */
  get size(): number {
    return this.denylist.size;
  }

  /**
   * Subscribes and reads the list; waits at most `connect_timeout` for Redis, then goes on (the subscriber
   * keeps reconnecting and reads the list once it is back). Never throws.
   */
  async start(): Promise<void> {
    // A subscriber has nothing to flush at close: no need for ioredis's 2s grace on a dead connection.
    const subscriber = this.redis.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      disconnectTimeout: 100,
    });
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined); // the shared client's owner reports Redis being away
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.onMessage(message);
    });
    subscriber.on('ready', this.onReady);
    const wait = this.settings.connectTimeoutMs;
    await settled(wait, subscriber, ['error'], subscriber.subscribe(this.channel));
    if (this.redis.status !== 'ready') await settled(wait, this.redis, ['ready', 'error']);
    await this.resync(true);
    this.timer = setInterval(() => void this.resync(false), this.settings.resyncIntervalMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.subscriber?.off('ready', this.onReady);
    this.subscriber?.disconnect();
    this.listeners.clear();
  }

  onChange(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The revocation refusing this principal's token, if any (memory only). */
  refusal(principal: Principal): Revocation | undefined {
    return this.denylist.refusal(principal, this.now());
  }

  /**
   * Stores a revocation for every node and applies it here before answering. Throws CompletionError:
   * invalid_request (a time that makes no sense), service_unavailable (Redis).
   */
  async revoke(request: RevocationRequest, revokedBy: string | undefined): Promise<Revocation> {
    const entry = this.entryFor(request, revokedBy);
    const member = revocationMember(entry.kind, entry.value);
    let version: unknown;
    try {
      version = await withDeadline(
        this.redis.cbRevocationAdd(
          this.index,
          this.data,
          this.versionKey,
          member,
          JSON.stringify(entry),
          entry.retainUntil,
          entry.revokedAt,
          this.channel,
        ),
        ADMIN_DEADLINE_MS,
        'Redis',
      );
    } catch (err) {
      throw redisUnavailable(err, 'The revocation list (Redis)');
    }
    this.apply(entry, Number(version));
    return entry;
  }

  /** Lifts a revocation everywhere; false when there was none. Throws service_unavailable (Redis). */
  async lift(kind: RevocationKind, value: string): Promise<boolean> {
    const head = JSON.stringify({ op: 'remove', kind, value }).slice(0, -1);
    let removed: unknown;
    try {
      removed = await withDeadline(
        this.redis.cbRevocationRemove(
          this.index,
          this.data,
          this.versionKey,
          revocationMember(kind, value),
          this.channel,
          head,
        ),
        ADMIN_DEADLINE_MS,
        'Redis',
      );
    } catch (err) {
      throw redisUnavailable(err, 'The revocation list (Redis)');
    }
    this.denylist.remove(kind, value);
    return removed === 1;
  }

  /** Every revocation in force, newest first, as Redis has them. Throws service_unavailable (Redis). */
  async list(): Promise<Revocation[]> {
    let read: { version: number; entries: Revocation[] };
    try {
      read = await withDeadline(this.read(), ADMIN_DEADLINE_MS, 'Redis');
    } catch (err) {
      throw redisUnavailable(err, 'The revocation list (Redis)');
    }
    return read.entries.sort((a, b) => b.revokedAt - a.revokedAt);
  }

  /**
   * Re-reads the list when its version moved (or always, with `force`: at start and after the subscriber
   * reconnected); drops expired entries from memory. Never throws: with Redis away the list held stays.
   */
  resync(force = false): Promise<void> {
    // A forced re-read asked for while an unforced one runs must still happen.
    if (this.resyncing) return force ? this.resyncing.then(() => this.resync(true)) : this.resyncing;
    const run = this.reread(force).finally(() => {
      if (this.resyncing === run) this.resyncing = undefined;
    });
    this.resyncing = run;
    return run;
  }

  private async reread(force: boolean): Promise<void> {
    try {
      this.denylist.prune(this.now());
      if (this.redis.status !== 'ready') return;
      if (!force && this.version >= 0) {
        const current = await withDeadline(this.redis.get(this.versionKey), ADMIN_DEADLINE_MS, 'Redis');
        if (Number(current ?? 0) === this.version) return;
      }
      const { version, entries } = await withDeadline(this.read(), ADMIN_DEADLINE_MS, 'Redis');
      if (this.closed) return;
      // Messages heard meanwhile are newer than this read: it would undo them. Read again.
      if (version < this.version) {
        setImmediate(() => void this.resync(true));
        return;
      }
      const fresh = this.denylist.replace(entries, this.now());
      this.version = version;
      this.tell(fresh);
    } catch (err) {
      this.options.log?.warn(
        { err: { message: err instanceof Error ? err.message : String(err) }, held: this.denylist.size },
        'revocation list not re-read; the revocations known stay in force',
      );
    }
  }

  private async read(): Promise<{ version: number; entries: Revocation[] }> {
    const replies = await this.redis.multi().get(this.versionKey).hgetall(this.data).exec();
    if (!replies) throw new Error('the revocation list read was aborted');
    const [[versionError, version] = [], [dataError, data] = []] = replies;
    const failed = versionError ?? dataError;
    if (failed) throw failed;
    const now = this.now();
    const entries: Revocation[] = [];
    for (const raw of Object.values(isObject(data) ? data : {})) {
      const entry = typeof raw === 'string' ? parseRevocation(safeJson(raw)) : undefined;
      if (entry && now < entry.retainUntil) entries.push(entry);
    }
    return { version: Number(version ?? 0), entries };
  }

  private onMessage(text: string): void {
    const message = safeJson(text);
    if (!isObject(message) || typeof message.version !== 'number') return;
    if (message.op === 'add') {
      const entry = parseRevocation(message.revocation);
      if (entry) this.apply(entry, message.version);
    } else if (message.op === 'remove' && (message.kind === 'jti' || message.kind === 'sub')) {
      if (typeof message.value === 'string') this.denylist.remove(message.kind, message.value);
      this.advance(message.version);
    }
  }

  private apply(entry: Revocation, version: number): void {
    if (this.now() < entry.retainUntil && this.denylist.add(entry)) this.tell([entry]);
    this.advance(version);
  }

  /**
   * Follows the version of the changes heard; a gap means a message was missed: re-read. Before the first
   * read (Redis was away at start) the version stays unknown, so the next resync reads everything.
   */
  private advance(version: number): void {
    if (!Number.isFinite(version) || this.version < 0) return;
    if (version > this.version + 1) void this.resync(true);
    else if (version > this.version) this.version = version;
  }

  private tell(fresh: readonly Revocation[]): void {
    if (fresh.length === 0) return;
    for (const listener of this.listeners) listener(fresh);
  }

  private entryFor(request: RevocationRequest, revokedBy: string | undefined): Revocation {
    const now = this.now();
    const { clockSkewMs: skew, maxTokenLifetimeMs: lifetime } = this.settings;
    const common = {
      kind: request.kind,
      value: request.value,
      revokedAt: now,
      ...(request.reason === undefined ? {} : { reason: request.reason }),
      ...(revokedBy === undefined ? {} : { revokedBy }),
    };
    if (request.kind === 'jti') {
      const { expiresAt } = request;
      if (expiresAt === undefined) return { ...common, retainUntil: now + lifetime + skew };
      if (expiresAt + skew <= now) {
        throw invalid('expiresAt is past: that token is refused as expired already.', 'expiresAt');
      }
      if (expiresAt > now + MAX_EXPIRES_AHEAD_MS) {
        throw invalid('expiresAt is more than a year ahead.', 'expiresAt');
      }
      return { ...common, expiresAt, retainUntil: expiresAt + skew };
    }
    const issuedBefore = request.issuedBefore ?? now;
    if (issuedBefore > now + skew) {
      throw invalid('issuedBefore must not be in the future.', 'issuedBefore');
    }
    const retainUntil = issuedBefore + lifetime + skew;
    if (retainUntil <= now) {
      throw invalid(
        'issuedBefore is older than auth.revocations.max_token_lifetime: those tokens have expired already.',
        'issuedBefore',
      );
    }
    return { ...common, issuedBefore, retainUntil };
  }
}

function invalid(message: string, param: string): CompletionError {
  return new CompletionError(RequestErrorCode.InvalidRequest, message, { param });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
