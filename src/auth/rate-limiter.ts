import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import type { ChainableCommander } from 'ioredis';
import { withDeadline } from '../common/with-deadline';
import type { RateLimitsConfig, RateLimitTier } from '../config/app-config';
import { AuthError } from './auth.error';
import type { Principal } from '../contract/principal';
import { ACQUIRE_LUA, HIT_LUA, REFRESH_LUA, USAGE_LUA } from './rate-limit.scripts';

/** The rolling window `requests_per_minute` counts over. */
export const REQUEST_WINDOW_MS = 60_000;
/** Retry-After of a refused stream: streams end at any time, so "soon". */
export const STREAM_RETRY_AFTER_MS = 1_000;
/** Longest wait on Redis on the request path; past it the request goes through (fail open). */
const DEADLINE_MS = 500;

/** The scripts of rate-limit.scripts.ts, as `defineCommand` adds them to the client. */
interface RateLimitRedis extends Redis {
  cbRateHit(key: string, limit: number, windowMs: number, member: string): Promise<unknown>;
  cbRateAcquire(key: string, limit: number, ttlMs: number, member: string): Promise<unknown>;
  cbRateUsage(requestsKey: string, streamsKey: string, windowMs: number): Promise<unknown>;
}

interface RateLimitPipeline extends ChainableCommander {
  cbRateRefresh(key: string, ttlMs: number, ...members: string[]): RateLimitPipeline;
}

const NO_OP = (): void => undefined;

/**
 * Per-user limits shared by every node through Redis (layout and algorithms in rate-limit.scripts.ts):
 * requests per rolling minute (a sliding log, exact), and concurrent streams (leases that this node renews
 * every third of `stream_lease_ttl`, so the slots of a node that died free themselves).
 *
 * Nothing is counted when limits are off, for the anonymous principal, or when the tier's value is 0.
 *
 * Redis being away never stops traffic: when a command fails or does not answer within 500 ms the request is
 * let through (fail open) and the stream gets a no-op release. Nothing is logged here; the Redis client's owner
 * reports Redis trouble.
 */
export class RateLimiter {
  private readonly redis: RateLimitRedis;
  /** Streams this node holds a lease for: streams key -> members. */
  private readonly held = new Map<string, Set<string>>();
  /** Request log members: unique per limiter instance, short (a busy user's log holds thousands). */
  private readonly memberTag = randomBytes(6).toString('base64url');
  private seq = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
    private readonly limits: RateLimitsConfig,
    private readonly nodeId: string,
  ) {
    redis.defineCommand('cbRateHit', { numberOfKeys: 1, lua: HIT_LUA });
    redis.defineCommand('cbRateAcquire', { numberOfKeys: 1, lua: ACQUIRE_LUA });
    redis.defineCommand('cbRateRefresh', { numberOfKeys: 1, lua: REFRESH_LUA });
    redis.defineCommand('cbRateUsage', { numberOfKeys: 2, lua: USAGE_LUA, readOnly: true });
    this.redis = redis as RateLimitRedis;
  }

  /**
   * Counts one request for the user; throws AuthError (rate_limit_exceeded, retryable, with the exact wait)
   * when the user made `requests_per_minute` requests in the last minute already. Refused requests are not
   * counted.
   */
  async hit(principal: Principal): Promise<void> {
    const limit = this.tierOf(principal)?.requests_per_minute ?? 0;
    if (limit === 0) return;
    const member = `${this.memberTag}${(++this.seq).toString(36)}`;
    let reply: unknown;
    try {
      reply = await withDeadline(
        this.redis.cbRateHit(this.requestsKey(principal.userId), limit, REQUEST_WINDOW_MS, member),
        DEADLINE_MS,
        'Redis',
      );
    } catch {
      return; // fail open
    }
    const [allowed, retryAfterMs] = numbers(reply);
    if (allowed === 0 && retryAfterMs !== undefined) {
      throw AuthError.rateLimited(
        `Rate limit exceeded: at most ${limit} requests per minute.`,
        Math.max(1, retryAfterMs),
      );
    }
  }

  /**
   * Takes one of the user's concurrent-stream slots for `streamId` (unique on this node); throws AuthError
   * (rate_limit_exceeded, retryable) when the user holds `concurrent_streams` already. The returned release
   * gives the slot back (idempotent; it never throws).
   */
  async acquireStream(principal: Principal, streamId: string): Promise<() => void> {
    const limit = this.tierOf(principal)?.concurrent_streams ?? 0;
    if (limit === 0) return NO_OP;
    const key = this.streamsKey(principal.userId);
    const member = `${this.nodeId}:${streamId}`;
    let reply: unknown;
    try {
      reply = await withDeadline(
        this.redis.cbRateAcquire(key, limit, this.limits.stream_lease_ttl, member),
        DEADLINE_MS,
        'Redis',
      );
    } catch {
      return NO_OP; // fail open (a lease taken after the deadline is not renewed and expires on its own)
    }
    const [allowed] = numbers(reply);
    if (allowed === 0) {
      throw AuthError.rateLimited(
        `Too many concurrent streams: at most ${limit} at once.`,
        STREAM_RETRY_AFTER_MS,
      );
    }
    if (allowed !== 1) return NO_OP;
    this.hold(key, member);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.unhold(key, member);
      this.redis.zrem(key, member).catch(NO_OP); // lost while Redis is away: the lease expires instead
    };
  }

  /** What a user holds now: requests counted in the last minute, live stream leases. Rejects when Redis fails. */
  async usage(userId: string): Promise<{ requestsInWindow: number; streams: number }> {
    const reply = await this.redis.cbRateUsage(
      this.requestsKey(userId),
      this.streamsKey(userId),
      REQUEST_WINDOW_MS,
    );
    const [requestsInWindow = 0, streams = 0] = numbers(reply);
    return { requestsInWindow, streams };
  }

  /** Stops renewing leases (shutdown). Releases nothing: leases still held expire after `stream_lease_ttl`. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The principal's limits, or undefined when nothing is to be counted. */
  private tierOf(principal: Principal): RateLimitTier | undefined {
    if (!this.limits.enabled || principal.anonymous) return undefined;
    const tiers = this.limits.tiers;
    return tiers.get(principal.tier) ?? tiers.get(this.limits.default_tier);
  }

  private hold(key: string, member: string): void {
    let members = this.held.get(key);
    if (!members) this.held.set(key, (members = new Set()));
    members.add(member);
    if (!this.timer && !this.closed) {
      this.timer = setInterval(
        () => this.refresh(),
        Math.max(1, Math.floor(this.limits.stream_lease_ttl / 3)),
      );
      this.timer.unref();
    }
  }

  private unhold(key: string, member: string): void {
    const members = this.held.get(key);
    if (!members?.delete(member) || members.size > 0) return;
    this.held.delete(key);
    if (this.held.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Renews every lease this node holds, one pipeline (one script call per user). Never throws. */
  private refresh(): void {
    if (this.held.size === 0) return;
    const pipeline = this.redis.pipeline() as RateLimitPipeline;
    for (const [key, members] of this.held) {
      pipeline.cbRateRefresh(key, this.limits.stream_lease_ttl, ...members);
    }
    pipeline.exec().catch(NO_OP); // Redis away: retried at the next tick, leases may lapse meanwhile
  }

  private requestsKey(userId: string): string {
    return `${this.keyPrefix}rl:req:${encodeKeyPart(userId)}`;
  }

  private streamsKey(userId: string): string {
    return `${this.keyPrefix}rl:streams:${encodeKeyPart(userId)}`;
  }
}

/**
 * A user id made safe for a key: every UTF-16 unit outside `[A-Za-z0-9._-]` becomes `%` and 4 hex digits, so
 * the encoding is one-to-one, readable for ordinary ids, and free of `:`, glob characters and `{}` hash tags.
 */
export function encodeKeyPart(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A script's reply as numbers (an unexpected shape gives an empty list: treated as allowed). */
function numbers(reply: unknown): Array<number | undefined> {
  if (!Array.isArray(reply)) return [];
  return reply.map((v: unknown) => (typeof v === 'number' ? v : undefined));
}
