import { type AuthConfig, PERMISSION_PATTERN } from '../config/app-config';
import { STREAM_TYPES, type StreamType } from '../contract/principal';
import { AuthError } from './auth.error';
import type { Principal } from '../contract/principal';

export const MAX_USER_ID_LENGTH = 256;
/** Longest `jti` accepted (what POST /admin/revocations takes too, so every accepted token can be revoked). */
export const MAX_TOKEN_ID_LENGTH = 256;
/** The standard OAuth 2.0 claim (RFC 8693 §4.2), read when the configured permissions claim is absent. */
const OAUTH_SCOPE_CLAIM = 'scope';

type Grants = Record<StreamType, { read: boolean; write: boolean }>;

/**
 * The principal a verified token's claims describe (claim names from `auth.claims`). Throws AuthError
 * (unauthorized) when the token names no user or carries a malformed permissions, roles or event types claim.
 *
 * Permissions come from the configured claim (an array of strings or a space-separated string); when it is
 * absent, from the OAuth `scope` string if that holds at least one entry of ours (an IdP's `scope` usually lists
 * other audiences' scopes too, like `openid profile`, which are ignored); otherwise `auth.default_permissions`.
 * A permissions claim that is present is authoritative, even when it grants nothing.
 */
export function principalFromClaims(claims: Record<string, unknown>, auth: AuthConfig): Principal {
  const names = auth.claims;
  const userId = claims[names.user_id];
  if (typeof userId !== 'string' || userId === '' || userId.length > MAX_USER_ID_LENGTH) {
    throw AuthError.unauthorized(`The token has no user id (${names.user_id}).`);
  }

  const roles = stringList(claims[names.roles], names.roles) ?? [];
  const admin = roles.includes(auth.admin_role);

  const configured = stringList(claims[names.permissions], names.permissions);
  const scope = configured === undefined ? oauthScope(claims[OAUTH_SCOPE_CLAIM]) : undefined;
  const permissions = grants(configured ?? scope ?? auth.default_permissions);

  const tierClaim = claims[names.tier];
  const tier =
    typeof tierClaim === 'string' && auth.rate_limits.tiers.has(tierClaim)
      ? tierClaim
      : auth.rate_limits.default_tier;

  const eventTypes = stringList(claims[names.event_types], names.event_types);
  const sanitize = claims[names.sanitize];
  const exp = claims.exp;
  const jti = claims.jti;
  if (jti !== undefined && (typeof jti !== 'string' || jti === '' || jti.length > MAX_TOKEN_ID_LENGTH)) {
    throw AuthError.unauthorized(
      `The token's jti claim must be a string of 1 to ${MAX_TOKEN_ID_LENGTH} characters.`,
    );
  }
  const iat = claims.iat;

  const principal: Principal = {
    userId,
    permissions,
    ...(eventTypes === undefined ? {} : { eventTypes: new Set(eventTypes) }),
    scope: admin || claims[names.resource_scope] === 'all' ? 'all' : 'own',
    admin,
    tier,
    ...(typeof sanitize === 'boolean' ? { sanitize } : {}),
    ...(typeof exp === 'number' && Number.isFinite(exp) ? { expiresAt: exp * 1000 } : {}),
    ...(jti === undefined ? {} : { tokenId: jti }),
    ...(typeof iat === 'number' && Number.isFinite(iat) ? { issuedAt: iat * 1000 } : {}),
    anonymous: false,
  };
  return Object.freeze(principal);
}

/** The `read` / `write` grants the entries give; entries that are not permissions of ours are ignored. */
function grants(entries: readonly string[]): Readonly<Grants> {
  const result = Object.fromEntries(STREAM_TYPES.map((t) => [t, { read: false, write: false }])) as Grants;
  for (const entry of entries) {
    if (!PERMISSION_PATTERN.test(entry)) continue;
    const [type = '*', access = '*'] = entry.split(':');
    for (const t of STREAM_TYPES) {
      if (type !== '*' && type !== t) continue;
      if (access === '*' || access === 'read') result[t].read = true;
      if (access === '*' || access === 'write') result[t].write = true;
    }
  }
  for (const t of STREAM_TYPES) Object.freeze(result[t]);
  return Object.freeze(result);
}

/**
 * A claim holding a list: an array of strings or a space-separated string. Undefined when absent; throws
 * (unauthorized) when it has another shape, so a token minted wrong is noticed rather than silently narrowed.
 */
function stringList(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.split(/\s+/).filter((s) => s !== '');
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return value;
  throw AuthError.unauthorized(
    `The token's ${name} claim must be an array of strings or a space-separated string.`,
  );
}

/** The OAuth `scope` claim's entries when at least one is a permission of ours. */
function oauthScope(value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  const entries = value.split(/\s+/).filter((s) => s !== '');
  return entries.some((e) => PERMISSION_PATTERN.test(e)) ? entries : undefined;
}
