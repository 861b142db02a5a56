import { createHash, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { JwtService, type JwtVerifyOptions } from '@nestjs/jwt';
import { RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import { isObject } from '../common/is-object';
import { type AuthConfig, JWT_ALGORITHMS, type JwtAlgorithm } from '../config/app-config';
import { AuthError } from './auth.error';
import { principalFromClaims } from './claims';
import {
  algorithmsOf,
  type AsymmetricAlgorithm,
  importJwks,
  KEY_KIND,
  toPem,
  type VerificationKey,
} from './jwks';
import type { Principal } from '../contract/principal';
import { type JwksLog, RemoteJwks } from './remote-jwks';

/** Longest token accepted (bytes); a header or cookie carrying more is refused before any parsing. */
export const MAX_TOKEN_BYTES = 8 * 1024;
const DEFAULT_CACHE_SIZE = 1_000;

export interface JwtVerifierOptions {
  /** The clock (ms since the epoch); tests pass their own. */
  now?: () => number;
  /** Verified tokens remembered (least recently used dropped first). */
  cacheSize?: number;
  /** Where `jwks_url` fetches are reported. */
  log?: JwksLog;
}

/** How long a caller refused for keys not fetched yet is told to wait. */
const KEYS_PENDING_RETRY_MS = 2_000;

/**
 * A refusal that a fresh key set from `jwks_url` might turn into an acceptance: the token names a `kid` the set
 * lacks, or no set has been fetched yet (then it is a 503).
 */
class KeyLookupError extends AuthError {}

interface CachedPrincipal {
  readonly principal: Principal;
  /** The principal is served from the cache while the clock is before this (exp + clock skew). */
  readonly validUntilMs: number;
}

/**
 * Verifies bearer tokens (JWS compact form) and turns their claims into a Principal. Keys: the HS256 secret, a
 * PEM public key (SPKI or certificate) and/or a JWKS file, read once at boot; and/or the IdP's JWKS at
 * `jwks_url`, held in memory and refreshed in the background (RemoteJwks). Every failure is an AuthError
 * (unauthorized; service_unavailable while `jwks_url` has never answered and no other key fits) whose message
 * names the problem but never the token or a key.
 *
 * `verify` is synchronous and never waits on the network: a token naming a `kid` no key set holds is refused
 * and starts a refetch (at most one per `jwks_refetch_cooldown`); `verifyAsync` waits for that refetch and looks
 * again, so the first token signed with a key the IdP just rotated in is accepted.
 *
 * Algorithm confusion is ruled out by construction: the token's `alg` must be one of `auth.jwt.algorithms`,
 * HS256 tokens are only ever checked against the configured secret (never against a JWKS key), and RS256 /
 * ES256 tokens only against public keys of the matching type and curve, narrowed to the JWK's own `alg`
 * (jsonwebtoken checks the same again). `none` is never accepted.
 */
export class JwtVerifier {
  private readonly jwt = new JwtService();
  private readonly cache = new Map<string, CachedPrincipal>();
  private readonly now: () => number;
  private readonly cacheSize: number;
  private readonly accepted: ReadonlySet<string>;

  private constructor(
    private readonly auth: AuthConfig,
    private readonly keys: readonly VerificationKey[],
    private readonly remote: RemoteJwks | undefined,
    options: JwtVerifierOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.cacheSize = Math.max(0, options.cacheSize ?? DEFAULT_CACHE_SIZE);
    this.accepted = new Set(auth.jwt.algorithms);
    // A principal verified with a key the IdP has withdrawn must not outlive it in the cache.
    remote?.onChange(() => this.cache.clear());
  }

  /**
   * Reads the key files (relative to `rootDir`) and makes the first `jwks_url` fetch (waiting at most
   * `jwks_timeout`; when it fails the verifier starts anyway and keeps trying). Throws an Error naming the file
   * and the problem when a key cannot be used, or when a configured algorithm has no key and no `jwks_url` may
   * bring one: the app must not boot half-configured. `close` stops the refreshes.
   */
  static async create(
    auth: AuthConfig,
    rootDir: string,
    options: JwtVerifierOptions = {},
  ): Promise<JwtVerifier> {
    const { algorithms, secret, public_key_file, jwks_file, jwks_url } = auth.jwt;
    if (algorithms.includes('HS256') && !secret) {
      throw new Error('auth.jwt.algorithms includes HS256 but auth.jwt.secret is not set');
    }
    const asymmetric = algorithms.filter((a): a is AsymmetricAlgorithm => a !== 'HS256');
    const keys: VerificationKey[] = [];
    let remote: RemoteJwks | undefined;
    if (asymmetric.length > 0) {
      if (public_key_file !== undefined) keys.push(...(await readPemFile(resolve(rootDir, public_key_file))));
      if (jwks_file !== undefined) keys.push(...(await readJwksFile(resolve(rootDir, jwks_file))));
      const files = [public_key_file, jwks_file].filter((f) => f !== undefined);
      for (const alg of jwks_url === undefined ? asymmetric : []) {
        if (keys.some((k) => k.algorithms.includes(alg))) continue;
        throw new Error(
          files.length === 0
            ? `auth.jwt.algorithms includes ${alg} but none of auth.jwt.public_key_file, jwks_file, jwks_url is set`
            : `auth.jwt.algorithms includes ${alg} but ${files.join(' / ')} holds no ${KEY_KIND[alg]} public key`,
        );
      }
      if (jwks_url !== undefined) {
        remote = new RemoteJwks(auth.jwt, jwks_url, {
          ...(options.now ? { now: options.now } : {}),
          ...(options.log ? { log: options.log } : {}),
        });
      }
    }
    const verifier = new JwtVerifier(auth, keys, remote, options);
    await remote?.start();
    return verifier;
  }

  /** Stops the `jwks_url` refreshes. */
  close(): void {
    this.remote?.stop();
  }

  /**
   * `verify`, but a token naming a key that `jwks_url` does not (yet) hold waits for a refetch (unless one ran
   * within the cooldown) and is looked at again.
   */
  async verifyAsync(token: string): Promise<Principal> {
    try {
      return this.verify(token);
    } catch (err) {
      if (!(err instanceof KeyLookupError) || !this.remote || !(await this.remote.refetch())) throw err;
      return this.verify(token);
    }
  }

  /** The principal of a valid token; throws AuthError (unauthorized) otherwise. */
  verify(token: string): Principal {
    if (token.length > MAX_TOKEN_BYTES || Buffer.byteLength(token, 'utf8') > MAX_TOKEN_BYTES) {
      throw AuthError.unauthorized('The token is too large.');
    }
    const now = this.now();
    const cacheKey = createHash('sha256').update(token).digest('base64');
    const cached = this.cache.get(cacheKey);
    if (cached) {
      this.cache.delete(cacheKey);
      if (now < cached.validUntilMs) {
        this.cache.set(cacheKey, cached); // most recently used last
        return cached.principal;
      }
    }

    const claims = this.verifySignedClaims(token, now);
    const { clock_skew, require_expiry } = this.auth.jwt;
    const exp = claims.exp;
    if (exp === undefined && require_expiry) throw AuthError.unauthorized('The token has no expiry (exp).');
    const principal = principalFromClaims(claims, this.auth);
    this.remember(cacheKey, {
      principal,
      validUntilMs: typeof exp === 'number' ? exp * 1000 + clock_skew : Number.POSITIVE_INFINITY,
    });
    return principal;
  }

  /** The token's claims once its signature, `alg`, `iss`, `aud`, `exp` and `nbf` have been checked. */
  private verifySignedClaims(token: string, now: number): Record<string, unknown> {
    const header = decodeHeader(token);
    const alg = header.alg;
    if (!isJwtAlgorithm(alg) || !this.accepted.has(alg)) {
      throw AuthError.unauthorized("The token's algorithm is not accepted.");
    }
    const { issuer, audience, clock_skew } = this.auth.jwt;
    const [firstAudience, ...moreAudiences] = audience ?? [];
    const accepted: [string, ...string[]] | undefined =
      firstAudience === undefined ? undefined : [firstAudience, ...moreAudiences];
    const options: JwtVerifyOptions = {
      algorithms: [alg],
      clockTolerance: clock_skew / 1000,
      clockTimestamp: Math.floor(now / 1000),
      ...(issuer === undefined ? {} : { issuer }),
      ...(accepted === undefined ? {} : { audience: accepted }),
    };

    let payload: unknown;
    if (alg === 'HS256') {
      payload = this.attempt(() => this.jwt.verify(token, { ...options, secret: this.auth.jwt.secret }));
    } else {
      const { candidates, kidUnknown } = this.candidates(alg, header.kid);
      if (candidates.length === 0) throw this.noKey();
      let failure: AuthError | undefined;
      for (const key of candidates) {
        try {
          payload = this.attempt(() => this.jwt.verify(token, { ...options, publicKey: key.pem }));
          failure = undefined;
          break;
        } catch (err) {
          // Only a signature mismatch means "maybe another key"; any later check failed with the right key.
          if (!(err instanceof AuthError) || err.message !== SIGNATURE_INVALID) throw err;
          failure = err;
        }
      }
      if (failure) throw kidUnknown ? this.noKey() : failure;
    }
    if (!isObject(payload)) throw AuthError.unauthorized('Malformed token.');
    return payload;
  }

  /**
   * Keys that may have signed a token: the one its `kid` names, else every key fitting its algorithm (then
   * `kidUnknown` says the token named a kid no key has).
   */
  private candidates(
    alg: AsymmetricAlgorithm,
    kid: unknown,
  ): { candidates: VerificationKey[]; kidUnknown: boolean } {
    const fetched = this.remote?.keys ?? [];
    const fitting = [...this.keys, ...fetched].filter((k) => k.algorithms.includes(alg));
    if (typeof kid === 'string') {
      const named = fitting.filter((k) => k.kid === kid);
      if (named.length > 0) return { candidates: named, kidUnknown: false };
      return { candidates: fitting, kidUnknown: true };
    }
    return { candidates: fitting, kidUnknown: false };
  }

  /**
   * No key we hold verified the token, which may be signed with one we lack. With `jwks_url` (the IdP may have
   * rotated a key in since the last fetch, or no fetch has succeeded yet) this starts a refetch (cooldown
   * permitting) and says so; without, it is an invalid signature.
   */
  private noKey(): AuthError {
    if (!this.remote) return AuthError.unauthorized(SIGNATURE_INVALID);
    void this.remote.refetch();
    if (this.remote.keys === undefined) {
      return new KeyLookupError(
        StreamErrorCode.ServiceUnavailable,
        'The signing keys (auth.jwt.jwks_url) have not been fetched yet; retry shortly.',
        { retryable: true, retryAfterMs: KEYS_PENDING_RETRY_MS },
      );
    }
    return new KeyLookupError(RequestErrorCode.Unauthorized, "The token's signing key is not known.");
  }

  /** Runs a jsonwebtoken verification, turning its errors into client-safe AuthErrors. */
  private attempt(verify: () => unknown): unknown {
    try {
      return verify();
    } catch (err) {
      throw AuthError.unauthorized(reasonOf(err));
    }
  }

  private remember(key: string, entry: CachedPrincipal): void {
    if (this.cacheSize === 0) return;
    this.cache.set(key, entry);
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next();
      if (oldest.done) break;
      this.cache.delete(oldest.value);
    }
  }
}

const SIGNATURE_INVALID = 'The token signature is invalid.';

function isJwtAlgorithm(value: unknown): value is JwtAlgorithm {
  return typeof value === 'string' && (JWT_ALGORITHMS as readonly string[]).includes(value);
}

/** The JOSE header, read without verifying anything (to pick the algorithm and key). */
function decodeHeader(token: string): Record<string, unknown> {
  const parts = token.split('.');
  const encoded = parts[0];
  if (parts.length !== 3 || !encoded || !/^[A-Za-z0-9_-]+$/.test(encoded)) {
    throw AuthError.unauthorized('Malformed token.');
  }
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    throw AuthError.unauthorized('Malformed token.');
  }
  if (!isObject(header)) throw AuthError.unauthorized('Malformed token.');
  return header;
}

/** A client-safe message for a jsonwebtoken error (told apart by name: jsonwebtoken is not imported here). */
function reasonOf(err: unknown): string {
  const name = err instanceof Error ? err.name : '';
  const message = err instanceof Error ? err.message : '';
  if (name === 'TokenExpiredError') return 'The token has expired.';
  if (name === 'NotBeforeError') return 'The token is not valid yet.';
  if (name === 'JsonWebTokenError') {
    if (message === 'invalid signature' || message === 'jwt signature is required') return SIGNATURE_INVALID;
    if (message.startsWith('jwt issuer invalid')) return "The token's issuer is not accepted.";
    if (message.startsWith('jwt audience invalid')) return "The token's audience is not accepted.";
    if (message === 'invalid algorithm') return "The token's algorithm is not accepted.";
    if (message === 'invalid exp value') return "The token's expiry (exp) is not a number.";
    if (message === 'invalid nbf value') return "The token's not-before time (nbf) is not a number.";
    if (message === 'jwt malformed' || message === 'invalid token') return 'Malformed token.';
  }
  // What else can fail is the signature's own encoding (e.g. an ES256 signature of the wrong length).
  return SIGNATURE_INVALID;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'unreadable');
    throw new Error(`${what} (${path}) cannot be read: ${code}`, { cause: err });
  }
}

/** auth.jwt.public_key_file: one PEM public key (SPKI or PKCS#1) or an X.509 certificate. */
async function readPemFile(path: string): Promise<VerificationKey[]> {
  const what = 'auth.jwt.public_key_file';
  const text = await readText(path, what);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new Error(`${what} (${path}) holds a private key; configure the public key only`);
  }
  let key: KeyObject;
  try {
    key = text.includes('-----BEGIN CERTIFICATE-----')
      ? new X509Certificate(text).publicKey
      : createPublicKey({ key: text, format: 'pem' });
  } catch {
    throw new Error(`${what} (${path}) is not a PEM public key or certificate`);
  }
  const algorithms = algorithmsOf(key);
  if (algorithms.length === 0) {
    throw new Error(`${what} (${path}) is neither an RSA nor an EC P-256 key`);
  }
  return [{ pem: toPem(key), algorithms }];
}

/** auth.jwt.jwks_file: `{"keys": [...]}` (see importJwks for what is taken). */
async function readJwksFile(path: string): Promise<VerificationKey[]> {
  const what = `auth.jwt.jwks_file (${path})`;
  const text = await readText(path, 'auth.jwt.jwks_file');
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
  return importJwks(jwks, what);
}
