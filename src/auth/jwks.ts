import { KeyObject } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { isObject } from '../common/is-object';
import type { JwtAlgorithm } from '../config/app-config';

export type AsymmetricAlgorithm = Exclude<JwtAlgorithm, 'HS256'>;

/** A public key (from `public_key_file`, `jwks_file` or `jwks_url`) with the algorithms it may verify. */
export interface VerificationKey {
  /** SPKI PEM (what JwtService takes). */
  readonly pem: string;
  readonly kid?: string;
  readonly algorithms: readonly AsymmetricAlgorithm[];
}

export const KEY_KIND: Record<AsymmetricAlgorithm, string> = { RS256: 'RSA', ES256: 'EC P-256' };

/** Which configurable algorithms a public key may verify (narrowed to its JWK `alg`, when it names one). */
export function algorithmsOf(key: KeyObject, jwkAlg?: string): AsymmetricAlgorithm[] {
  const algorithms: AsymmetricAlgorithm[] = [];
  if (key.asymmetricKeyType === 'rsa') algorithms.push('RS256');
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    algorithms.push('ES256');
  }
  return jwkAlg === undefined ? algorithms : algorithms.filter((a) => a === jwkAlg);
}

export function toPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * The signature keys of a JWKS (`{"keys": [...]}`), for a file and a fetched set alike; `source` names it in
 * errors (`auth.jwt.jwks_file (path)`). RSA and EC public keys are taken, each for its own algorithm only (the
 * JWK's `alg` when it has one; RS256 for RSA, ES256 for EC P-256 otherwise). Keys of other types or curves, other
 * algorithms (RS384, PS256...), and keys meant for encryption (`use: enc`, `key_ops` without `verify`) are
 * skipped. A private or secret key (`d`, `k`) or a broken key makes the whole set an error: such a set is a
 * misconfiguration, never half used.
 */
export async function importJwks(jwks: unknown, source: string): Promise<VerificationKey[]> {
  if (!isObject(jwks) || !Array.isArray(jwks.keys)) {
    throw new Error(`${source} is not a JWKS (an object with a "keys" array)`);
  }
  const keys: VerificationKey[] = [];
  for (const [i, jwk] of (jwks.keys as unknown[]).entries()) {
    const label = `${source} key #${i}`;
    if (!isObject(jwk) || typeof jwk.kty !== 'string') throw new Error(`${label} has no "kty"`);
    const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined;
    const named = kid === undefined ? label : `${label} (kid ${JSON.stringify(kid)})`;
    if (jwk.d !== undefined || jwk.k !== undefined) {
      throw new Error(`${named} is a private or secret key; a JWKS must hold public keys only`);
    }
    if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify')))
      continue;
    if (jwk.alg !== undefined && typeof jwk.alg !== 'string')
      throw new Error(`${named} has a non-string "alg"`);
    let key: unknown;
    try {
      key = await importJWK(publicMembers(jwk, jwk.kty), jwk.alg);
    } catch {
      throw new Error(`${named} is not a valid ${jwk.kty} public key`);
    }
    if (!(key instanceof KeyObject) || key.type !== 'public') {
      throw new Error(`${named} is not a valid ${jwk.kty} public key`);
    }
    const algorithms = algorithmsOf(key, jwk.alg);
    if (algorithms.length > 0)
      keys.push({ pem: toPem(key), ...(kid === undefined ? {} : { kid }), algorithms });
  }
  return keys;
}

/** The members a public key of this type consists of (nothing else reaches the key import). */
function publicMembers(jwk: Record<string, unknown>, kty: 'RSA' | 'EC'): JWK {
  const text = (name: string) => (typeof jwk[name] === 'string' ? jwk[name] : undefined);
  return kty === 'RSA'
    ? { kty, n: text('n'), e: text('e') }
    : { kty, crv: text('crv'), x: text('x'), y: text('y') };
}
