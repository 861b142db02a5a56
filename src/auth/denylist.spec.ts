import { Denylist, parseRevocation, type Revocation } from './denylist';
import type { Principal } from '../contract/principal';

const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;

function principal(extra: Partial<Principal> = {}): Principal {
  const none = { read: false, write: false };
  return {
    userId: 'alice',
    permissions: { completion: none, workflow: none, agent: none, system: none },
    scope: 'own',
    admin: false,
    tier: 'default',
    anonymous: false,
    tokenId: 't-1',
    issuedAt: NOW - HOUR,
    expiresAt: NOW + HOUR,
    ...extra,
  };
}

const jti = (value: string, extra: Partial<Revocation> = {}): Revocation => ({
  kind: 'jti',
  value,
  revokedAt: NOW,
  retainUntil: NOW + HOUR,
  ...extra,
});

const sub = (value: string, issuedBefore: number, extra: Partial<Revocation> = {}): Revocation => ({
  kind: 'sub',
  value,
  revokedAt: NOW,
  issuedBefore,
  retainUntil: issuedBefore + 24 * HOUR,
  ...extra,
});

describe('Denylist', () => {
  it('refuses a revoked token id, and only that one', () => {
    const list = new Denylist();
    expect(list.refusal(principal(), NOW)).toBeUndefined();
    list.add(jti('t-1'));
    expect(list.refusal(principal(), NOW)).toMatchObject({ kind: 'jti', value: 't-1' });
    expect(list.refusal(principal({ tokenId: 't-2' }), NOW)).toBeUndefined();
    const withoutId: Principal = { ...principal() };
    delete (withoutId as { tokenId?: string }).tokenId;
    expect(list.refusal(withoutId, NOW)).toBeUndefined();
  });

  it("refuses a subject's tokens issued before the cutoff, and those that do not say when", () => {
    const list = new Denylist();
    list.add(sub('alice', NOW));
    expect(list.refusal(principal({ issuedAt: NOW - 1 }), NOW)).toMatchObject({ kind: 'sub' });
    expect(list.refusal(principal({ issuedAt: NOW }), NOW)).toBeUndefined();
    expect(list.refusal(principal({ issuedAt: NOW + 1_000 }), NOW)).toBeUndefined();
    const undated: Principal = { ...principal() };
    delete (undated as { issuedAt?: number }).issuedAt;
    expect(list.refusal(undated, NOW)).toMatchObject({ kind: 'sub' });
    expect(list.refusal(principal({ userId: 'bob' }), NOW)).toBeUndefined();
  });

  it('forgets an entry past retainUntil, in checks at once and in memory on prune', () => {
    const list = new Denylist();
    list.add(jti('t-1', { retainUntil: NOW + 10 }));
    expect(list.refusal(principal(), NOW + 9)).toBeDefined();
    expect(list.refusal(principal(), NOW + 10)).toBeUndefined();
    expect(list.size).toBe(1);
    list.prune(NOW + 10);
    expect(list.size).toBe(0);
  });

  it('tells whether an add changed anything, and removes', () => {
    const list = new Denylist();
    expect(list.add(jti('t-1'))).toBe(true);
    expect(list.add(jti('t-1', { reason: 'same effect' }))).toBe(false);
    expect(list.add(jti('t-1', { retainUntil: NOW + 2 * HOUR }))).toBe(true);
    expect(list.add(sub('alice', NOW))).toBe(true);
    expect(list.add(sub('alice', NOW + 1))).toBe(true);
    expect(list.remove('jti', 't-1')).toBe(true);
    expect(list.remove('jti', 't-1')).toBe(false);
    expect(list.refusal(principal({ issuedAt: NOW }), NOW)).toMatchObject({ kind: 'sub' });
  });

  it('replaces its content with a full read, returning what is new', () => {
    const list = new Denylist();
    list.add(jti('kept'));
    list.add(jti('lifted elsewhere'));
    const fresh = list.replace([jti('kept'), jti('missed'), jti('expired', { retainUntil: NOW - 1 })], NOW);
    expect(fresh.map((e) => e.value)).toEqual(['missed']);
    expect(list.refusal(principal({ tokenId: 'lifted elsewhere' }), NOW)).toBeUndefined();
    expect(list.refusal(principal({ tokenId: 'missed' }), NOW)).toBeDefined();
    expect(list.refusal(principal({ tokenId: 'expired' }), NOW)).toBeUndefined();
    expect(list.size).toBe(2);
  });
});

describe('parseRevocation', () => {
  it('takes what the list writes', () => {
    for (const entry of [jti('t', { expiresAt: NOW, reason: 'r', revokedBy: 'root' }), sub('alice', NOW)]) {
      expect(parseRevocation(JSON.parse(JSON.stringify(entry)))).toEqual(entry);
    }
  });

  it('refuses anything else', () => {
    for (const bad of [
      null,
      'jti:x',
      [],
      { ...jti('t'), kind: 'iss' },
      { ...jti('t'), value: '' },
      { ...jti('t'), value: 7 },
      { ...jti('t'), retainUntil: 'tomorrow' },
      { ...jti('t'), revokedAt: null },
      { ...jti('t'), expiresAt: 'soon' },
      { kind: 'sub', value: 'alice', revokedAt: NOW, retainUntil: NOW + 1 },
    ]) {
      expect(parseRevocation(bad)).toBeUndefined();
    }
  });
});
