import { createHmac, generateKeyPairSync, type KeyObject, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RequestErrorCode } from '../contract/error-code';
import { AuthConfig, JwtConfig, RateLimitsConfig, RateLimitTier } from '../config/app-config';
import { AuthError } from './auth.error';
import { JwtVerifier, type JwtVerifierOptions } from './jwt-verifier';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const NOW_S = 1_800_000_000;

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaOther = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecP384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cb-jwt-'));
  writeFileSync(join(dir, 'rsa.pub.pem'), pem(rsa.publicKey));
  writeFileSync(join(dir, 'ec.pub.pem'), pem(ec1.publicKey));
  writeFileSync(join(dir, 'rsa.key.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'garbage.pem'), 'not a key\n');
  const jwk = (key: KeyObject, extra: Record<string, string>) => ({
    ...key.export({ format: 'jwk' }),
    ...extra,
  });
  writeFileSync(
    join(dir, 'jwks.json'),
    JSON.stringify({
      keys: [
        jwk(ec1.publicKey, { kid: 'k1', alg: 'ES256', use: 'sig' }),
        jwk(ec2.publicKey, { kid: 'k2' }),
        jwk(rsa.publicKey, { kid: 'r1', alg: 'RS256' }),
        jwk(ecP384.publicKey, { kid: 'p384' }),
        { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'ed' },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'private.jwks.json'),
    JSON.stringify({ keys: [ec1.privateKey.export({ format: 'jwk' })] }),
  );
  writeFileSync(join(dir, 'broken.json'), '{"keys": [');
  writeFileSync(join(dir, 'nokeys.json'), '{"key": []}');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function authConfig(jwt: Partial<JwtConfig>): AuthConfig {
  const tier = Object.assign(new RateLimitTier(), { requests_per_minute: 10, concurrent_streams: 1 });
  return Object.assign(new AuthConfig(), {
    mode: 'jwt',
    jwt: Object.assign(new JwtConfig(), { clock_skew: 30_000, ...jwt }),
    default_permissions: ['completion:read'],
    rate_limits: Object.assign(new RateLimitsConfig(), { tiers: new Map([['default', tier]]) }),
  });
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs with node:crypto directly, independent of the library under test. */
function token(
  alg: string,
  key: KeyObject | string | undefined,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  const input = `${b64({ alg, typ: 'JWT', ...header })}.${b64(payload)}`;
  let signature = '';
  if (alg === 'HS256' && key !== undefined) {
    signature = createHmac('sha256', key).update(input).digest('base64url');
  } else if (alg === 'RS256' && typeof key === 'object') {
    signature = cryptoSign('sha256', Buffer.from(input), key).toString('base64url');
  } else if (alg === 'ES256' && typeof key === 'object') {
    signature = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString(
      'base64url',
    );
  }
  return `${input}.${signature}`;
}

const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'user-1', exp: NOW_S + 3600, ...extra });

class Clock {
  ms = NOW_S * 1000;
  readonly now = () => this.ms;
}

async function verifier(jwt: Partial<JwtConfig>, options: JwtVerifierOptions = {}) {
  const clock = new Clock();
  const v = await JwtVerifier.create(authConfig(jwt), dir, { now: clock.now, ...options });
  return { v, clock };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).code).toBe(RequestErrorCode.Unauthorized);
    return (err as AuthError).message;
  }
  throw new Error('expected the token to be refused');
}

describe('JwtVerifier', () => {
  describe('HS256', () => {
    const hs = { algorithms: ['HS256' as const], secret: SECRET };

    it('accepts a valid token and builds the principal', async () => {
      const { v } = await verifier(hs);
      const p = v.verify(token('HS256', SECRET, claims({ permissions: ['workflow:read'], tier: 'default' })));
      expect(p.userId).toBe('user-1');
      expect(p.permissions.workflow.read).toBe(true);
      expect(p.permissions.completion.read).toBe(false);
      expect(p.expiresAt).toBe((NOW_S + 3600) * 1000);
      expect(p.anonymous).toBe(false);
    });

    it('refuses a tampered signature, a tampered payload and another secret', async () => {
      const { v } = await verifier(hs);
      const good = token('HS256', SECRET, claims());
      const [h, pl, sig = ''] = good.split('.');
      const flipped = `${sig.slice(0, 5)}${sig[5] === 'A' ? 'B' : 'A'}${sig.slice(6)}`;
      expect(refusal(() => v.verify(`${h}.${pl}.${flipped}`))).toBe('The token signature is invalid.');
      const forged = `${h}.${b64(claims({ roles: ['admin'] }))}.${sig}`;
      expect(refusal(() => v.verify(forged))).toBe('The token signature is invalid.');
      const other = token('HS256', 'another-secret-of-at-least-32-characters', claims());
      expect(refusal(() => v.verify(other))).toBe('The token signature is invalid.');
      expect(refusal(() => v.verify(`${h}.${pl}.`))).toBe('The token signature is invalid.');
    });

    it('refuses an expired token, with the clock skew as leeway', async () => {
      const { v } = await verifier(hs);
      expect(v.verify(token('HS256', SECRET, claims({ exp: NOW_S - 29 }))).userId).toBe('user-1');
      expect(refusal(() => v.verify(token('HS256', SECRET, claims({ exp: NOW_S - 30 }))))).toBe(
        'The token has expired.',
      );
      expect(refusal(() => v.verify(token('HS256', SECRET, claims({ exp: NOW_S - 3600 }))))).toBe(
        'The token has expired.',
      );
    });

    it('refuses a token not valid yet, with the clock skew as leeway', async () => {
      const { v } = await verifier(hs);
      expect(v.verify(token('HS256', SECRET, claims({ nbf: NOW_S + 30 }))).userId).toBe('user-1');
      expect(refusal(() => v.verify(token('HS256', SECRET, claims({ nbf: NOW_S + 31 }))))).toBe(
        'The token is not valid yet.',
      );
    });

    it('applies a zero skew strictly', async () => {
      const { v } = await verifier({ ...hs, clock_skew: 0 });
      expect(refusal(() => v.verify(token('HS256', SECRET, claims({ exp: NOW_S }))))).toBe(
        'The token has expired.',
      );
      expect(refusal(() => v.verify(token('HS256', SECRET, claims({ nbf: NOW_S + 1 }))))).toBe(
        'The token is not valid yet.',
      );
    });

    it('checks the issuer', async () => {
      const { v } = await verifier({ ...hs, issuer: 'https://auth.example.com/' });
      expect(v.verify(token('HS256', SECRET, claims({ iss: 'https://auth.example.com/' }))).userId).toBe(
        'user-1',
      );
      for (const extra of [{ iss: 'https://evil.example.com/' }, {}]) {
        expect(refusal(() => v.verify(token('HS256', SECRET, claims(extra))))).toBe(
          "The token's issuer is not accepted.",
        );
      }
    });

    it('checks the audience (any of the configured)', async () => {
      const { v } = await verifier({ ...hs, audience: ['circuit-breaker', 'router'] });
      expect(v.verify(token('HS256', SECRET, claims({ aud: 'router' }))).userId).toBe('user-1');
      expect(v.verify(token('HS256', SECRET, claims({ aud: ['other', 'circuit-breaker'] }))).userId).toBe(
        'user-1',
      );
      for (const extra of [{ aud: 'other' }, { aud: [] }, {}]) {
        expect(refusal(() => v.verify(token('HS256', SECRET, claims(extra))))).toBe(
          "The token's audience is not accepted.",
        );
      }
    });

    it('refuses alg none and algorithms not configured', async () => {
      const { v } = await verifier(hs);
      expect(refusal(() => v.verify(token('none', undefined, claims())))).toBe(
        "The token's algorithm is not accepted.",
      );
      expect(refusal(() => v.verify(token('HS512', SECRET, claims())))).toBe(
        "The token's algorithm is not accepted.",
      );
      expect(refusal(() => v.verify(token('RS256', rsa.privateKey, claims())))).toBe(
        "The token's algorithm is not accepted.",
      );
    });

    it('requires exp when require_expiry is on', async () => {
      const noExp = token('HS256', SECRET, { sub: 'user-1' });
      const strict = await verifier({ ...hs, require_expiry: true });
      expect(refusal(() => strict.v.verify(noExp))).toBe('The token has no expiry (exp).');
      const lax = await verifier({ ...hs, require_expiry: false });
      expect(lax.v.verify(noExp).expiresAt).toBeUndefined();
    });

    it('refuses a non-numeric exp', async () => {
      const { v } = await verifier(hs);
      expect(refusal(() => v.verify(token('HS256', SECRET, claims({ exp: 'tomorrow' }))))).toBe(
        "The token's expiry (exp) is not a number.",
      );
    });

    it('refuses malformed tokens', async () => {
      const { v } = await verifier(hs);
      const notJson = Buffer.from('{"alg":').toString('base64url');
      for (const bad of ['', 'abc', 'a.b', 'a.b.c.d', `${notJson}.e30.sig`, `${b64('HS256')}.e30.sig`]) {
        expect(refusal(() => v.verify(bad))).toBe('Malformed token.');
      }
      const stringPayload = `${b64({ alg: 'HS256' })}.${Buffer.from('hello').toString('base64url')}`;
      const signed = `${stringPayload}.${createHmac('sha256', SECRET).update(stringPayload).digest('base64url')}`;
      expect(refusal(() => v.verify(signed))).toBe('Malformed token.');
    });

    it('refuses a token over 8 KB without echoing it', async () => {
      const { v } = await verifier(hs);
      const big = token('HS256', SECRET, claims({ pad: 'x'.repeat(9000) }));
      const message = refusal(() => v.verify(big));
      expect(message).toBe('The token is too large.');
    });

    it('refuses a token without a user id', async () => {
      const { v } = await verifier(hs);
      expect(refusal(() => v.verify(token('HS256', SECRET, { exp: NOW_S + 60 })))).toBe(
        'The token has no user id (sub).',
      );
    });

    it('never puts the token or the secret in a message', async () => {
      const { v } = await verifier({ ...hs, issuer: 'me', audience: ['us'] });
      const bad = [
        token('HS256', SECRET, claims({ iss: 'x', aud: 'us' })),
        token('HS256', SECRET, claims({ iss: 'me', aud: 'x' })),
        token('HS256', 'wrong-secret-wrong-secret-wrong-secret', claims()),
      ];
      for (const t of bad) {
        const message = refusal(() => v.verify(t));
        expect(message).not.toContain(t.split('.')[1]);
        expect(message).not.toContain(SECRET);
        expect(message).not.toMatch(/expected/);
      }
    });
  });

  describe('RS256 with a PEM file', () => {
    const rs = { algorithms: ['RS256' as const], public_key_file: 'rsa.pub.pem' };

    it('accepts a token signed with the private key', async () => {
      const { v } = await verifier(rs);
      expect(v.verify(token('RS256', rsa.privateKey, claims())).userId).toBe('user-1');
    });

    it('refuses a token signed with another key', async () => {
      const { v } = await verifier(rs);
      expect(refusal(() => v.verify(token('RS256', rsaOther.privateKey, claims())))).toBe(
        'The token signature is invalid.',
      );
    });

    it('refuses an HS256 token when only RS256 is configured', async () => {
      const { v } = await verifier(rs);
      expect(refusal(() => v.verify(token('HS256', SECRET, claims())))).toBe(
        "The token's algorithm is not accepted.",
      );
    });

    it('refuses an HS256 token signed with the public key as the secret (algorithm confusion)', async () => {
      const attack = token('HS256', pem(rsa.publicKey), claims({ roles: ['admin'] }));
      const rsOnly = await verifier(rs);
      expect(refusal(() => rsOnly.v.verify(attack))).toBe("The token's algorithm is not accepted.");
      // With HS256 accepted too, HS256 tokens are only ever checked against the secret.
      const both = await verifier({ ...rs, algorithms: ['HS256', 'RS256'], secret: SECRET });
      expect(refusal(() => both.v.verify(attack))).toBe('The token signature is invalid.');
      expect(both.v.verify(token('HS256', SECRET, claims())).userId).toBe('user-1');
      expect(both.v.verify(token('RS256', rsa.privateKey, claims())).userId).toBe('user-1');
    });

    it('refuses to start with a missing, private, unreadable or mismatched key file', async () => {
      await expect(verifier({ ...rs, public_key_file: 'missing.pem' })).rejects.toThrow(
        /auth\.jwt\.public_key_file \(.*missing\.pem\) cannot be read: ENOENT/,
      );
      await expect(verifier({ ...rs, public_key_file: 'rsa.key.pem' })).rejects.toThrow(
        /holds a private key/,
      );
      await expect(verifier({ ...rs, public_key_file: 'garbage.pem' })).rejects.toThrow(
        /garbage\.pem\) is not a PEM public key/,
      );
      await expect(verifier({ ...rs, public_key_file: 'ec.pub.pem' })).rejects.toThrow(
        /includes RS256 but .*ec\.pub\.pem holds no RSA public key/,
      );
      await expect(verifier({ algorithms: ['RS256'] })).rejects.toThrow(
        /none of auth\.jwt\.public_key_file, jwks_file, jwks_url is set/,
      );
      await expect(verifier({ algorithms: ['HS256'] })).rejects.toThrow(/auth\.jwt\.secret is not set/);
    });
  });

  describe('ES256 with a JWKS file', () => {
    const es = { algorithms: ['ES256' as const], jwks_file: 'jwks.json' };

    it('picks the key by kid', async () => {
      const { v } = await verifier(es);
      expect(v.verify(token('ES256', ec1.privateKey, claims(), { kid: 'k1' })).userId).toBe('user-1');
      expect(v.verify(token('ES256', ec2.privateKey, claims(), { kid: 'k2' })).userId).toBe('user-1');
      // The kid names a key that did not sign: no other key is tried.
      expect(refusal(() => v.verify(token('ES256', ec2.privateKey, claims(), { kid: 'k1' })))).toBe(
        'The token signature is invalid.',
      );
    });

    it('tries the keys fitting the algorithm when the kid is absent or unknown', async () => {
      const { v } = await verifier(es);
      expect(v.verify(token('ES256', ec2.privateKey, claims())).userId).toBe('user-1');
      expect(v.verify(token('ES256', ec2.privateKey, claims(), { kid: 'rotated' })).userId).toBe('user-1');
      expect(refusal(() => v.verify(token('ES256', ecP384.privateKey, claims(), { kid: 'p384' })))).toBe(
        'The token signature is invalid.',
      );
    });

    it('reports the right key’s verdict, not a signature failure, once a key matched', async () => {
      const { v } = await verifier(es);
      expect(refusal(() => v.verify(token('ES256', ec2.privateKey, claims({ exp: NOW_S - 3600 }))))).toBe(
        'The token has expired.',
      );
    });

    it('refuses a tampered signature', async () => {
      const { v } = await verifier(es);
      const [h, pl, sig = ''] = token('ES256', ec1.privateKey, claims(), { kid: 'k1' }).split('.');
      const flipped = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
      expect(refusal(() => v.verify(`${h}.${pl}.${flipped}`))).toBe('The token signature is invalid.');
      expect(refusal(() => v.verify(`${h}.${pl}.${sig.slice(0, 20)}`))).toBe(
        'The token signature is invalid.',
      );
    });

    it('refuses an RS256 token when only ES256 is configured, and takes it when RS256 is', async () => {
      const rs256 = token('RS256', rsa.privateKey, claims(), { kid: 'r1' });
      const esOnly = await verifier(es);
      expect(refusal(() => esOnly.v.verify(rs256))).toBe("The token's algorithm is not accepted.");
      const both = await verifier({ ...es, algorithms: ['ES256', 'RS256'] });
      expect(both.v.verify(rs256).userId).toBe('user-1');
      // An ES256 token naming the RSA key's kid is not checked against it.
      expect(refusal(() => both.v.verify(token('ES256', ecP384.privateKey, claims(), { kid: 'r1' })))).toBe(
        'The token signature is invalid.',
      );
    });

    it('refuses to start with a broken JWKS', async () => {
      await expect(verifier({ ...es, jwks_file: 'private.jwks.json' })).rejects.toThrow(
        /private\.jwks\.json\) key #0 is a private or secret key/,
      );
      await expect(verifier({ ...es, jwks_file: 'broken.json' })).rejects.toThrow(
        /broken\.json\) is not valid JSON/,
      );
      await expect(verifier({ ...es, jwks_file: 'nokeys.json' })).rejects.toThrow(/is not a JWKS/);
      await expect(verifier({ ...es, jwks_file: 'missing.json' })).rejects.toThrow(
        /auth\.jwt\.jwks_file \(.*missing\.json\) cannot be read/,
      );
    });
  });

  describe('cache', () => {
    const hs = { algorithms: ['HS256' as const], secret: SECRET };

    it('returns the same principal for the same token', async () => {
      const { v } = await verifier(hs);
      const t = token('HS256', SECRET, claims());
      const first = v.verify(t);
      expect(v.verify(t)).toBe(first);
      expect(v.verify(token('HS256', SECRET, claims({ tier: 'x' })))).not.toBe(first);
    });

    it('never serves a principal past exp + clock skew', async () => {
      const { v, clock } = await verifier(hs);
      const t = token('HS256', SECRET, claims({ exp: NOW_S + 60 }));
      const first = v.verify(t);
      clock.ms = (NOW_S + 60) * 1000 + 29_999;
      expect(v.verify(t)).toBe(first);
      clock.ms = (NOW_S + 60) * 1000 + 30_000;
      expect(refusal(() => v.verify(t))).toBe('The token has expired.');
    });

    it('drops the least recently used entry when full', async () => {
      const { v } = await verifier(hs, { cacheSize: 2 });
      const a = token('HS256', SECRET, claims({ sub: 'a' }));
      const b = token('HS256', SECRET, claims({ sub: 'b' }));
      const c = token('HS256', SECRET, claims({ sub: 'c' }));
      const pa = v.verify(a);
      const pb = v.verify(b);
      expect(v.verify(a)).toBe(pa); // a is now the most recent
      v.verify(c); // evicts b
      expect(v.verify(a)).toBe(pa);
      const pb2 = v.verify(b);
      expect(pb2).not.toBe(pb);
      expect(pb2).toEqual(pb);
    });

    it('does not cache refusals', async () => {
      const { v, clock } = await verifier(hs);
      const t = token('HS256', SECRET, claims({ nbf: NOW_S + 120 }));
      expect(refusal(() => v.verify(t))).toBe('The token is not valid yet.');
      clock.ms += 120_000;
      expect(v.verify(t).userId).toBe('user-1');
    });
  });
});
