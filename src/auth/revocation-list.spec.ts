import { freePort } from '../common/testing/free-port';
import Redis from 'ioredis';
import { CompletionError, RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import type { Revocation } from './denylist';
import type { Principal } from '../contract/principal';
import { RevocationList, type RevocationSettings } from './revocation-list';
import { waitFor } from '../common/testing/wait-for';

const REDIS_URL = 'redis://127.0.0.1:6379';
const HOUR = 3_600_000;
let prefixSeq = 0;

function principal(userId: string, extra: Partial<Principal> = {}): Principal {
  const none = { read: false, write: false };
  return {
    userId,
    permissions: { completion: none, workflow: none, agent: none, system: none },
    scope: 'own',
    admin: false,
    tier: 'default',
    anonymous: false,
    issuedAt: Date.now() - 60_000,
    ...extra,
  };
}

async function failure(work: Promise<unknown>): Promise<CompletionError> {
  const err = await work.then(
    () => new Error('expected a failure'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CompletionError);
  return err as CompletionError;
}

describe('RevocationList (real Redis)', () => {
  const lists: RevocationList[] = [];
  const clients: Redis[] = [];
  const admin = new Redis(REDIS_URL);
  let prefix: string;

  function settings(patch: Partial<RevocationSettings> = {}): RevocationSettings {
    return {
      keyPrefix: prefix,
      maxTokenLifetimeMs: 24 * HOUR,
      resyncIntervalMs: 60_000,
      clockSkewMs: 30_000,
      connectTimeoutMs: 1_000,
      ...patch,
    };
  }

  /** One "node": its own connection and list. */
  async function node(patch: Partial<RevocationSettings> = {}, url = REDIS_URL): Promise<RevocationList> {
    const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    clients.push(client);
    const list = new RevocationList(client, settings(patch));
    lists.push(list);
    await list.start();
    return list;
  }

  beforeEach(() => {
    prefix = `cb-test-rev-${process.pid}-${++prefixSeq}:`;
  });

  afterEach(async () => {
    for (const list of lists.splice(0)) list.close();
    for (const client of clients.splice(0)) client.disconnect();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  });

  afterAll(() => admin.quit());

  it('refuses a revoked jti on the revoking node at once and on another node by pub/sub', async () => {
    const [a, b] = [await node(), await node()];
    const heard: Revocation[] = [];
    b.onChange((fresh) => heard.push(...fresh));
    const token = principal('alice', { tokenId: 't-1' });
    expect(b.refusal(token)).toBeUndefined();
    const entry = await a.revoke({ kind: 'jti', value: 't-1', reason: 'laptop lost' }, 'root');
    expect(entry).toMatchObject({ kind: 'jti', value: 't-1', reason: 'laptop lost', revokedBy: 'root' });
    expect(a.refusal(token)).toEqual(entry);
    await waitFor('node b to refuse the token', () => b.refusal(token) !== undefined, 5_000);
    expect(heard).toEqual([entry]);
    expect(b.refusal(principal('alice', { tokenId: 't-2' }))).toBeUndefined();
  });

  it('keeps a jti until its token expires (plus the skew), or max_token_lifetime when it names none', async () => {
    const a = await node();
    const expiresAt = Date.now() + HOUR;
    const named = await a.revoke({ kind: 'jti', value: 'named', expiresAt }, undefined);
    expect(named.retainUntil).toBe(expiresAt + 30_000);
    const unnamed = await a.revoke({ kind: 'jti', value: 'unnamed' }, undefined);
    expect(unnamed.retainUntil).toBe(unnamed.revokedAt + 24 * HOUR + 30_000);
    // The keys expire with their longest-lived entry.
    const pttl = await admin.pttl(`${prefix}revocations:data`);
    expect(pttl).toBeGreaterThan(23 * HOUR);
    expect(pttl).toBeLessThanOrEqual(unnamed.retainUntil - Date.now() + 1_000);
  });

  it("refuses a subject's tokens issued before the revocation, not later ones, and lifts it everywhere", async () => {
    const [a, b] = [await node(), await node()];
    const before = Date.now();
    const entry = await a.revoke({ kind: 'sub', value: 'bob' }, 'root');
    expect(entry.issuedBefore).toBeGreaterThanOrEqual(before);
    expect(entry.retainUntil).toBe((entry.issuedBefore ?? 0) + 24 * HOUR + 30_000);
    await waitFor('node b to refuse bob', () => b.refusal(principal('bob')) !== undefined, 5_000);
    expect(b.refusal(principal('bob', { issuedAt: (entry.issuedBefore ?? 0) + 1_000 }))).toBeUndefined();
    expect(b.refusal(principal('carol'))).toBeUndefined();
    expect(await b.lift('sub', 'bob')).toBe(true);
    expect(await b.lift('sub', 'bob')).toBe(false);
    expect(b.refusal(principal('bob'))).toBeUndefined();
    await waitFor('node a to accept bob again', () => a.refusal(principal('bob')) === undefined, 5_000);
  });

  it('lists what is in force, newest first', async () => {
    const a = await node();
    const first = await a.revoke({ kind: 'jti', value: 'first' }, undefined);
    await waitFor('the clock to pass the first revokedAt', () => Date.now() > first.revokedAt, 5_000); // the next one gets a later revokedAt
    await a.revoke({ kind: 'sub', value: 'bob' }, 'root');
    expect((await a.list()).map((e) => `${e.kind}:${e.value}`)).toEqual(['sub:bob', 'jti:first']);
  });

  it('loads the list at start', async () => {
    const a = await node();
    await a.revoke({ kind: 'jti', value: 'old' }, undefined);
    const late = await node();
    expect(late.refusal(principal('alice', { tokenId: 'old' }))).toBeDefined();
    expect(late.size).toBe(1);
  });

  it('heals a missed message on the periodic re-read, and tells the listeners', async () => {
    const b = await node({ resyncIntervalMs: 1_000 });
    const heard: string[] = [];
    b.onChange((fresh) => heard.push(...fresh.map((e) => e.value)));
    // A change made while B's subscriber was away: in Redis, version moved, no message.
    const now = Date.now();
    const missed = { kind: 'jti', value: 'missed', revokedAt: now, retainUntil: now + HOUR };
    await admin.hset(`${prefix}revocations:data`, 'jti:missed', JSON.stringify(missed));
    await admin.zadd(`${prefix}revocations`, missed.retainUntil, 'jti:missed');
    await admin.incr(`${prefix}revocations:version`);
    await waitFor(
      'the resync to bring the missed revocation',
      () => b.refusal(principal('alice', { tokenId: 'missed' })) !== undefined,
      5_000,
    );
    expect(heard).toEqual(['missed']);
  });

  it('re-reads at once when the versions of the messages show a gap', async () => {
    const [a, b] = [await node(), await node()];
    const now = Date.now();
    const missed = { kind: 'jti', value: 'gap', revokedAt: now, retainUntil: now + HOUR };
    await admin.hset(`${prefix}revocations:data`, 'jti:gap', JSON.stringify(missed));
    await admin.incr(`${prefix}revocations:version`); // version 1, never published
    await a.revoke({ kind: 'jti', value: 'heard' }, undefined); // version 2, published
    await waitFor(
      'the resync to fill the gap',
      () => b.refusal(principal('alice', { tokenId: 'gap' })) !== undefined,
      5_000,
    );
    expect(b.refusal(principal('alice', { tokenId: 'heard' }))).toBeDefined();
  });

  it('refuses times that make no sense with invalid_request', async () => {
    const a = await node();
    const cases = [
      a.revoke({ kind: 'jti', value: 'x', expiresAt: Date.now() - 60_000 }, undefined),
      a.revoke({ kind: 'jti', value: 'x', expiresAt: Date.now() + 400 * 24 * HOUR }, undefined),
      a.revoke({ kind: 'sub', value: 'bob', issuedBefore: Date.now() + HOUR }, undefined),
      a.revoke({ kind: 'sub', value: 'bob', issuedBefore: Date.now() - 25 * HOUR }, undefined),
    ];
    const params = [];
    for (const work of cases) {
      const err = await failure(work);
      expect(err.code).toBe(RequestErrorCode.InvalidRequest);
      params.push(err.param);
    }
    expect(params).toEqual(['expiresAt', 'expiresAt', 'issuedBefore', 'issuedBefore']);
    expect(await a.list()).toEqual([]);
  });

  it('with Redis gone, keeps refusing what it knows and answers 503 to changes', async () => {
    const a = await node();
    await a.revoke({ kind: 'jti', value: 'known' }, undefined);
    clients[0]?.disconnect();
    expect(a.refusal(principal('alice', { tokenId: 'known' }))).toBeDefined();
    for (const work of [
      a.revoke({ kind: 'jti', value: 'new' }, undefined),
      a.list(),
      a.lift('jti', 'known'),
    ]) {
      const err = await failure(work);
      expect(err.code).toBe(StreamErrorCode.ServiceUnavailable);
      expect(err.retryable).toBe(true);
      expect(err.message).toBe('The revocation list (Redis) is unavailable; retry shortly.');
    }
    await a.resync(true); // does not throw, keeps the list
    expect(a.refusal(principal('alice', { tokenId: 'known' }))).toBeDefined();
  });

  it('starts without Redis (within connect_timeout) and answers 503', async () => {
    const a = await node({ connectTimeoutMs: 300 }, `redis://127.0.0.1:${await freePort()}`);
    expect(a.size).toBe(0);
    expect((await failure(a.revoke({ kind: 'sub', value: 'bob' }, undefined))).code).toBe(
      StreamErrorCode.ServiceUnavailable,
    );
  });
});
