import { freePort } from '../common/testing/free-port';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { StreamErrorCode } from '../contract/error-code';
import { RateLimitsConfig, RateLimitTier } from '../config/app-config';
import { AuthError } from './auth.error';
import { OPEN_PRINCIPAL, type Principal } from '../contract/principal';
import { encodeKeyPart, RateLimiter, REQUEST_WINDOW_MS, STREAM_RETRY_AFTER_MS } from './rate-limiter';
import { waitFor } from '../common/testing/wait-for';

const PREFIX = `cb-test-rl-${process.pid}-${Date.now()}:`;

function limits(
  tiers: Record<string, [requestsPerMinute: number, concurrentStreams: number]>,
  patch: Partial<RateLimitsConfig> = {},
): RateLimitsConfig {
  const map = new Map(
    Object.entries(tiers).map(([name, [requests_per_minute, concurrent_streams]]) => [
      name,
      Object.assign(new RateLimitTier(), { requests_per_minute, concurrent_streams }),
    ]),
  );
  return Object.assign(new RateLimitsConfig(), { tiers: map, ...patch });
}

let userSeq = 0;
/** A fresh user per test, so that tests never share counters. */
function user(tier = 'default', userId = `user-${++userSeq}`): Principal {
  return {
    userId,
    tier,
    permissions: OPEN_PRINCIPAL.permissions,
    scope: 'own',
    admin: false,
    anonymous: false,
  };
}

async function refusal(work: Promise<unknown>): Promise<AuthError> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    const error = err as AuthError;
    expect(error.code).toBe(StreamErrorCode.RateLimitExceeded);
    expect(error.retryable).toBe(true);
    return error;
  }
  throw new Error('expected a rate_limit_exceeded refusal');
}

/** A client that never connected: `status` stays `wait` until a command is sent. */
function idleClient(port: number): Redis {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  return client;
}

describe('RateLimiter (real Redis)', () => {
  // Two "nodes": separate connections, separate limiters.
  const nodeA = new Redis('redis://127.0.0.1:6379');
  const nodeB = new Redis('redis://127.0.0.1:6379');
  const limiters: RateLimiter[] = [];
  const spare: Redis[] = [];

  function limiter(redis: Redis, config: RateLimitsConfig, node: string): RateLimiter {
    const l = new RateLimiter(redis, PREFIX, config, node);
    limiters.push(l);
    return l;
  }

  afterAll(async () => {
    for (const l of limiters) l.close();
    const keys = await nodeA.keys(`${PREFIX}*`);
    if (keys.length > 0) await nodeA.del(...keys);
    await Promise.all([nodeA.quit(), nodeB.quit()]);
    // A client whose connection was refused has ended by itself (no retries); disconnect() on it would leave
    // ioredis's 2s stream-destroy timer behind.
    for (const client of spare) if (client.status !== 'end') client.disconnect();
  });

  describe('requests per minute', () => {
    it('counts up to the limit, then refuses with a retry-after (refusals are not counted)', async () => {
      const rl = limiter(nodeA, limits({ default: [3, 5] }), 'a');
      const u = user();
      for (let i = 0; i < 3; i++) await expect(rl.hit(u)).resolves.toBeUndefined();
      const error = await refusal(rl.hit(u));
      expect(error.retryAfterMs).toBeGreaterThan(0);
      expect(error.retryAfterMs).toBeLessThanOrEqual(REQUEST_WINDOW_MS);
      expect(error.message).toBe('Rate limit exceeded: at most 3 requests per minute.');
      await refusal(rl.hit(u));
      await expect(rl.usage(u.userId)).resolves.toEqual({ requestsInWindow: 3, streams: 0 });
      const ttl = await nodeA.pttl(`${PREFIX}rl:req:${encodeKeyPart(u.userId)}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(REQUEST_WINDOW_MS);
    });

    it('is shared by every node', async () => {
      const config = limits({ default: [4, 5] });
      const a = limiter(nodeA, config, 'a');
      const b = limiter(nodeB, config, 'b');
      const u = user();
      await a.hit(u);
      await b.hit(u);
      await a.hit(u);
      await b.hit(u);
      await refusal(a.hit(u));
      await refusal(b.hit(u));
      await expect(a.usage(u.userId)).resolves.toEqual({ requestsInWindow: 4, streams: 0 });
      await expect(b.usage(u.userId)).resolves.toEqual({ requestsInWindow: 4, streams: 0 });
    });

    it('slides: requests older than a minute leave the window, and the wait is until the oldest leaves', async () => {
      const rl = limiter(nodeA, limits({ default: [2, 5] }), 'a');
      const u = user();
      const key = `${PREFIX}rl:req:${encodeKeyPart(u.userId)}`;
      const [seconds, micros] = await nodeA.time();
      const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      // Two requests long gone, one made 59s ago (leaves the window in ~1s).
      await nodeA.zadd(key, nowMs - 120_000, 'old-1', nowMs - 61_000, 'old-2', nowMs - 59_000, 'recent');
      await rl.hit(u);
      const error = await refusal(rl.hit(u));
      expect(error.retryAfterMs).toBeGreaterThan(0);
      expect(error.retryAfterMs).toBeLessThanOrEqual(1_000);
      await expect(rl.usage(u.userId)).resolves.toEqual({ requestsInWindow: 2, streams: 0 });
      expect(await nodeA.zscore(key, 'old-1')).toBeNull();
    });

    it('takes the default tier for a tier it does not know', async () => {
      const rl = limiter(nodeA, limits({ default: [1, 1], pro: [100, 100] }), 'a');
      const u = user('gold');
      await rl.hit(u);
      await refusal(rl.hit(u));
      const pro = user('pro');
      await rl.hit(pro);
      await rl.hit(pro);
    });

    it('keeps users with look-alike ids apart', async () => {
      const rl = limiter(nodeA, limits({ default: [1, 1] }), 'a');
      const base = `user-${++userSeq}`;
      const ids = [`${base}:*`, base, `${base}%003a%002a`, `${base}{x}`];
      for (const id of ids) await rl.hit(user('default', id));
      for (const id of ids) await refusal(rl.hit(user('default', id)));
      const encoded = ids.map(encodeKeyPart);
      expect(new Set(encoded).size).toBe(ids.length);
      for (const e of encoded) expect(e).toMatch(/^[A-Za-z0-9._%-]+$/);
      expect(await nodeA.exists(`${PREFIX}rl:req:${encodeKeyPart(`${base}:*`)}`)).toBe(1);
    });
  });

  describe('concurrent streams', () => {
    it('are shared by every node; a release frees a slot, once', async () => {
      const config = limits({ default: [0, 2] });
      const a = limiter(nodeA, config, 'node-a');
      const b = limiter(nodeB, config, 'node-b');
      const u = user();
      const release1 = await a.acquireStream(u, 's1');
      const release2 = await b.acquireStream(u, 's2');
      const error = await refusal(a.acquireStream(u, 's3'));
      expect(error.retryAfterMs).toBe(STREAM_RETRY_AFTER_MS);
      expect(error.message).toBe('Too many concurrent streams: at most 2 at once.');
      await refusal(b.acquireStream(u, 's3'));
      await expect(b.usage(u.userId)).resolves.toEqual({ requestsInWindow: 0, streams: 2 });

      release1();
      release1();
      // The ZREM went out on node A's connection: a read there is ordered after it.
      await expect(a.usage(u.userId)).resolves.toEqual({ requestsInWindow: 0, streams: 1 });
      const release3 = await b.acquireStream(u, 's3');
      await refusal(a.acquireStream(u, 's4'));
      release2();
      release3();
      await expect(b.usage(u.userId)).resolves.toEqual({ requestsInWindow: 0, streams: 0 });
    });

    it('stores one lease per node and stream id', async () => {
      const rl = limiter(nodeA, limits({ default: [0, 2] }), 'node-a');
      const u = user();
      const release = await rl.acquireStream(u, 'same');
      await rl.acquireStream(u, 'same'); // renewed, not a second slot
      await expect(rl.usage(u.userId)).resolves.toEqual({ requestsInWindow: 0, streams: 1 });
      const members = await nodeA.zrange(`${PREFIX}rl:streams:${encodeKeyPart(u.userId)}`, '0', '-1');
      expect(members).toEqual(['node-a:same']);
      release();
    });

    it('lets the slots of a node that stopped renewing (crashed) expire on their own', async () => {
      const u = user();
      const crashed = limiter(nodeA, limits({ default: [0, 1] }, { stream_lease_ttl: 300 }), 'crashed');
      await crashed.acquireStream(u, 'orphan');
      crashed.close(); // stops renewing, releases nothing
      const survivor = limiter(nodeB, limits({ default: [0, 1] }), 'survivor');
      await refusal(survivor.acquireStream(u, 'new'));
      await waitFor(
        "the crashed node's slots to expire",
        async () => (await survivor.usage(u.userId)).streams === 0,
        5_000,
      );
      const release = await survivor.acquireStream(u, 'new');
      release();
    });

    it('keeps the leases of a live node renewed past their ttl', async () => {
      const u = user();
      const live = limiter(nodeA, limits({ default: [0, 1] }, { stream_lease_ttl: 600 }), 'live');
      const other = limiter(nodeB, limits({ default: [0, 1] }), 'other');
      const release = await live.acquireStream(u, 'long');
      await sleep(1_500); // 2.5 lease ttls: without renewal the lease would be gone
      await expect(other.usage(u.userId)).resolves.toEqual({ requestsInWindow: 0, streams: 1 });
      await refusal(other.acquireStream(u, 'x'));
      release();
      await expect(live.usage(u.userId)).resolves.toEqual({ requestsInWindow: 0, streams: 0 });
    });
  });

  describe('without counting', () => {
    it('makes no Redis call for unlimited tiers, the anonymous principal, or when disabled', async () => {
      const client = idleClient(6379);
      spare.push(client);
      const cases: Array<[RateLimitsConfig, Principal]> = [
        [limits({ default: [10, 10], unlimited: [0, 0] }), user('unlimited')],
        [limits({ default: [10, 10] }), OPEN_PRINCIPAL],
        [limits({ default: [10, 10] }, { enabled: false }), user()],
      ];
      for (const [config, principal] of cases) {
        const rl = limiter(client, config, 'idle');
        for (let i = 0; i < 20; i++) await rl.hit(principal);
        const release = await rl.acquireStream(principal, 's');
        release();
      }
      expect(client.status).toBe('wait');
    });
  });

  describe('with Redis down', () => {
    it('fails open: requests and streams go through, and release is a no-op', async () => {
      const port = await freePort();

      const client = idleClient(port);
      spare.push(client);
      const rl = limiter(client, limits({ default: [1, 1] }), 'down');
      const u = user();
      for (let i = 0; i < 3; i++) await expect(rl.hit(u)).resolves.toBeUndefined();
      const releases = [await rl.acquireStream(u, 'a'), await rl.acquireStream(u, 'b')];
      for (const release of releases) expect(() => release()).not.toThrow();
      await expect(rl.usage(u.userId)).rejects.toThrow();
      await waitFor('the client to end', () => client.status === 'end', 5_000);
    });
  });
});
