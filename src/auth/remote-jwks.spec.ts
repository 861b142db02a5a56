import { randomUUID } from 'node:crypto';
import { RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import { AuthConfig, JwtConfig, RateLimitsConfig, RateLimitTier } from '../config/app-config';
import { AuthError } from './auth.error';
import { JwtVerifier } from './jwt-verifier';
import { FakeIdp, SigningKey, signJwt } from './testing/fake-idp';
import { waitFor } from '../common/testing/wait-for';

/** JwtVerifier with `auth.jwt.jwks_url`, against a real IdP on loopback (node:http). */

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const COOLDOWN = 30_000;

const k1 = new SigningKey('k1', 'RS256');
const k2 = new SigningKey('k2', 'ES256');
const k3 = new SigningKey('k3', 'RS256');
const rogue = new SigningKey('rogue', 'RS256');

/** Real time, shifted by `offset` (the cooldown is read from this clock; timers run in real time). */
class Clock {
  offset = 0;
  readonly now = () => Date.now() + this.offset;
  passCooldown(): void {
    this.offset += COOLDOWN;
  }
}

let idp: FakeIdp;
let clock: Clock;
const verifiers: JwtVerifier[] = [];

beforeEach(async () => {
  idp = await FakeIdp.start(k1);
  clock = new Clock();
});

afterEach(async () => {
  for (const v of verifiers.splice(0)) v.close();
  await idp.close();
});

function authConfig(jwt: Partial<JwtConfig>): AuthConfig {
  const tier = Object.assign(new RateLimitTier(), { requests_per_minute: 10, concurrent_streams: 1 });
  return Object.assign(new AuthConfig(), {
    mode: 'jwt',
    jwt: Object.assign(new JwtConfig(), {
      algorithms: ['RS256', 'ES256'],
      jwks_url: idp.url,
      jwks_refetch_cooldown: COOLDOWN,
      clock_skew: 0,
      ...jwt,
    }),
    rate_limits: Object.assign(new RateLimitsConfig(), { tiers: new Map([['default', tier]]) }),
  });
}

async function verifier(jwt: Partial<JwtConfig> = {}): Promise<JwtVerifier> {
  const v = await JwtVerifier.create(authConfig(jwt), __dirname, { now: clock.now });
  verifiers.push(v);
  return v;
}

/** Claims of a fresh token (a new jti each: no two tokens share a cache entry). */
const claims = (extra: Record<string, unknown> = {}) => ({
  sub: 'user-1',
  jti: randomUUID(),
  exp: Math.floor(clock.now() / 1000) + 3600,
  ...extra,
});

function refusal(fn: () => unknown): AuthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return err as AuthError;
  }
  throw new Error('expected the token to be refused');
}

async function asyncRefusal(promise: Promise<unknown>): Promise<AuthError> {
  const err = await promise.then(
    () => new Error('expected the token to be refused'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  return err as AuthError;
}

const accepts = (v: JwtVerifier, token: string) => {
  try {
    v.verify(token);
    return true;
  } catch {
    return false;
  }
};

describe('JwtVerifier with jwks_url', () => {
  it('fetches the key set at boot: the first token is accepted, and more tokens cost no fetch', async () => {
    const v = await verifier();
    expect(v.verify(k1.sign(claims())).userId).toBe('user-1');
    for (let i = 0; i < 20; i++) v.verify(k1.sign(claims({ sub: `user-${i}` })));
    expect(idp.fetches).toBe(1);
  });

  it('accepts a token signed with a key the IdP rotated in: one refetch for its unknown kid', async () => {
    const v = await verifier();
    idp.keys = [k1, k2];
    clock.passCooldown();
    expect((await v.verifyAsync(k2.sign(claims()))).userId).toBe('user-1');
    expect(idp.fetches).toBe(2);
    // The old key is still published: its tokens still pass.
    expect(v.verify(k1.sign(claims())).userId).toBe('user-1');
  });

  it('refuses an unknown kid on the synchronous path, and accepts it once the refetch it started lands', async () => {
    const v = await verifier();
    idp.keys = [k1, k3];
    clock.passCooldown();
    const token = k3.sign(claims());
    const err = refusal(() => v.verify(token));
    expect(err.code).toBe(RequestErrorCode.Unauthorized);
    expect(err.message).toBe("The token's signing key is not known.");
    await waitFor('the token to be accepted', () => accepts(v, token), 5_000);
    expect(idp.fetches).toBe(2);
  });

  it('refetches at most once per cooldown, however many unknown kids come', async () => {
    const v = await verifier();
    clock.passCooldown();
    const flood = Array.from({ length: 50 }, () => rogue.sign(claims(), { kid: randomUUID() }));
    const refusals = await Promise.all(flood.map((t) => asyncRefusal(v.verifyAsync(t))));
    for (const t of flood.slice(0, 10)) refusals.push(await asyncRefusal(v.verifyAsync(t)));
    for (const t of flood.slice(0, 10)) refusals.push(refusal(() => v.verify(t)));
    expect(new Set(refusals.map((e) => e.message))).toEqual(
      new Set(["The token's signing key is not known."]),
    );
    expect(idp.fetches).toBe(2); // boot + one
    clock.passCooldown();
    await asyncRefusal(v.verifyAsync(rogue.sign(claims(), { kid: randomUUID() })));
    expect(idp.fetches).toBe(3);
  });

  it('refuses the tokens of a key the IdP removed once the cache TTL refreshes the set, cached ones too', async () => {
    const v = await verifier({ jwks_cache_ttl: 300 });
    const token = k1.sign(claims());
    const first = v.verify(token);
    expect(v.verify(token)).toBe(first); // from the verified-token cache
    idp.keys = [k2];
    await waitFor('a second fetch', () => idp.fetches >= 2, 5_000);
    await waitFor('the token to be refused', () => !accepts(v, token), 5_000);
    expect(refusal(() => v.verify(token)).message).toBe("The token's signing key is not known.");
    expect(v.verify(k2.sign(claims())).userId).toBe('user-1');
  });

  describe('keeps the last good key set when a fetch fails', () => {
    const failures: Array<[string, () => void]> = [
      ['HTTP 500', () => (idp.answer = { kind: 'status', status: 500 })],
      ['HTTP 404', () => (idp.answer = { kind: 'status', status: 404 })],
      ['not JSON', () => (idp.answer = { kind: 'body', body: '<html>oops</html>' })],
      ['not a JWKS', () => (idp.answer = { kind: 'body', body: '{"key": []}' })],
      ['no usable key', () => (idp.answer = { kind: 'body', body: '{"keys": []}' })],
      [
        'a private key',
        () => (idp.answer = { kind: 'body', body: JSON.stringify({ keys: [privateJwk()] }) }),
      ],
      [
        'a body over 256 KB',
        () => (idp.answer = { kind: 'body', body: `{"keys": [], "x": "${'x'.repeat(300_000)}"}` }),
      ],
      ['a stalled body (timeout)', () => (idp.answer = { kind: 'stall' })],
    ];

    it.each(failures)('%s', async (_name, fail) => {
      const v = await verifier({ jwks_timeout: 300 });
      fail();
      clock.passCooldown();
      // An unknown kid forces a refetch, which fails: the set held stays.
      const err = await asyncRefusal(v.verifyAsync(rogue.sign(claims(), { kid: 'new' })));
      expect(err.message).toBe("The token's signing key is not known.");
      expect(idp.fetches).toBe(2);
      expect(v.verify(k1.sign(claims())).userId).toBe('user-1');
    });

    it('the IdP down', async () => {
      const v = await verifier();
      await idp.stop();
      clock.passCooldown();
      await asyncRefusal(v.verifyAsync(rogue.sign(claims(), { kid: 'new' })));
      expect(v.verify(k1.sign(claims())).userId).toBe('user-1');
    });
  });

  it('starts with the IdP down, answers 503 until the keys come, then accepts', async () => {
    await idp.stop();
    const v = await verifier();
    const token = k1.sign(claims());
    for (const err of [refusal(() => v.verify(token)), await asyncRefusal(v.verifyAsync(token))]) {
      expect(err.code).toBe(StreamErrorCode.ServiceUnavailable);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/signing keys .* have not been fetched yet/);
    }
    await idp.restart();
    // Retried in the background (1s, 2s, ... after the failures), not only when tokens come.
    await waitFor('the token to be accepted', () => accepts(v, token), 8_000);
    expect(idp.fetches).toBeGreaterThanOrEqual(1);
  }, 15_000);

  it('boots past an IdP that does not answer, after jwks_timeout', async () => {
    idp.answer = { kind: 'stall' };
    const v = await verifier({ jwks_timeout: 200 });
    expect(refusal(() => v.verify(k1.sign(claims()))).code).toBe(StreamErrorCode.ServiceUnavailable);
  });

  describe('algorithm confusion', () => {
    it('never checks an HS256 token against a JWKS key', async () => {
      const v = await verifier({ algorithms: ['HS256', 'RS256', 'ES256'], secret: SECRET });
      const pem = k1.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const n = k1.jwk().n ?? '';
      for (const secret of [pem, n, JSON.stringify(k1.jwk())]) {
        const attack = signJwt('HS256', secret, claims({ roles: ['admin'] }), { kid: 'k1' });
        expect(refusal(() => v.verify(attack)).message).toBe('The token signature is invalid.');
      }
      expect(v.verify(signJwt('HS256', SECRET, claims())).userId).toBe('user-1');
      expect(idp.fetches).toBe(1); // HS256 refusals never ask the IdP
    });

    it('refuses HS256 and none when only RS256 / ES256 are accepted', async () => {
      const v = await verifier();
      const pem = k1.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      expect(refusal(() => v.verify(signJwt('HS256', pem, claims(), { kid: 'k1' }))).message).toBe(
        "The token's algorithm is not accepted.",
      );
      const none = `${Buffer.from('{"alg":"none","kid":"k1"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`;
      expect(refusal(() => v.verify(none)).message).toBe("The token's algorithm is not accepted.");
    });

    it("uses a JWKS key for its own algorithm only (its alg, else its type's)", async () => {
      const ec = new SigningKey('ec', 'ES256');
      const marked = new SigningKey('marked', 'RS256');
      idp.keys = [k1, ec];
      idp.answer = {
        kind: 'body',
        body: JSON.stringify({
          keys: [
            k1.jwk(),
            ec.jwk({ alg: undefined }),
            marked.jwk({ alg: 'RS384' }), // another algorithm: skipped
            k3.jwk({ use: 'enc' }), // encryption key: skipped
            rogue.jwk({ key_ops: ['encrypt'] }), // not for verify: skipped
          ],
        }),
      };
      const v = await verifier();
      expect(v.verify(ec.sign(claims())).userId).toBe('user-1'); // EC P-256 without alg: ES256
      for (const key of [marked, k3, rogue]) {
        expect(refusal(() => v.verify(key.sign(claims()))).message).toBe(
          "The token's signing key is not known.",
        );
      }
      // An RS256 header naming the EC key's kid is not checked against it (nor is ES256 against k1).
      const rogueEc = new SigningKey('k1', 'ES256');
      expect(refusal(() => v.verify(rogueEc.sign(claims()))).code).toBe(RequestErrorCode.Unauthorized);
      expect(refusal(() => v.verify(signJwt('RS256', rogue.privateKey, claims(), { kid: 'ec' }))).code).toBe(
        RequestErrorCode.Unauthorized,
      );
    });

    it('refuses a whole set that holds a secret (oct) key', async () => {
      const idpSecret = 'a-secret-the-idp-should-never-publish-0123';
      idp.answer = {
        kind: 'body',
        body: JSON.stringify({
          keys: [k1.jwk(), { kty: 'oct', kid: 'hs', k: Buffer.from(idpSecret).toString('base64url') }],
        }),
      };
      const v = await verifier({ algorithms: ['HS256', 'RS256'], secret: SECRET });
      expect(refusal(() => v.verify(k1.sign(claims()))).code).toBe(StreamErrorCode.ServiceUnavailable);
      const withPublishedSecret = signJwt('HS256', idpSecret, claims(), { kid: 'hs' });
      expect(refusal(() => v.verify(withPublishedSecret)).message).toBe('The token signature is invalid.');
    });
  });
});

function privateJwk(): Record<string, unknown> {
  return { ...k1.privateKey.export({ format: 'jwk' }), kid: 'k1' };
}
