/** Stream types a token grants `read` / `write` on (docs/auth.md). */
export const STREAM_TYPES = ['completion', 'workflow', 'agent', 'system'] as const;
export type StreamType = (typeof STREAM_TYPES)[number];

export type Access = 'read' | 'write';

/**
 * Who is calling, as every edge and service sees it: built once per request (or per WebSocket connection)
 * from a verified token, or the open principal when `auth.mode` is `none`.
 */
export interface Principal {
  /** The user id (the `sub` claim unless configured otherwise); owner of what they start. */
  readonly userId: string;
  /** `read` / `write` granted per stream type. */
  readonly permissions: Readonly<Record<StreamType, { readonly read: boolean; readonly write: boolean }>>;
  /** Event types this user may receive; undefined = all. Terminal events (completed, error) always pass. */
  readonly eventTypes?: ReadonlySet<string>;
  /** `own`: only the completions and runs this user started; `all`: everyone's. */
  readonly scope: 'own' | 'all';
  /** Holds the admin role: `/admin`, every permission, every resource. */
  readonly admin: boolean;
  /** The rate-limit tier (a configured tier name). */
  readonly tier: string;
  /** The token's claim turning PII sanitization on (true) or off (false); undefined = the route decides. */
  readonly sanitize?: boolean;
  /** When the token expires (ms since the epoch); undefined for the open principal. */
  readonly expiresAt?: number;
  /** The token's id (`jti`), which a revocation can name. */
  readonly tokenId?: string;
  /** When the token was issued (`iat`, ms since the epoch): a subject's revocation refuses the older ones. */
  readonly issuedAt?: number;
  /** The open principal of `auth.mode: none`: no identity, no rate limits. */
  readonly anonymous: boolean;
}

export function can(principal: Principal, type: StreamType, access: Access): boolean {
  return principal.admin || principal.permissions[type][access];
}

/** Whether a resource started by `owner` is visible to `principal`. Unowned resources (started while
 * auth was off) are visible to `all`-scoped principals only. */
export function owns(principal: Principal, owner: string | undefined): boolean {
  if (principal.admin || principal.scope === 'all' || principal.anonymous) return true;
  return owner !== undefined && owner === principal.userId;
}

const ALL = { read: true, write: true } as const;

/** `auth.mode: none`: everything is allowed, nothing is owned, nothing is rate limited. */
export const OPEN_PRINCIPAL: Principal = Object.freeze({
  userId: 'anonymous',
  permissions: { completion: ALL, workflow: ALL, agent: ALL, system: ALL },
  scope: 'all',
  admin: true,
  tier: 'unlimited',
  anonymous: true,
});

/** Who owns what `principal` starts: its user, or nobody for the open principal (auth off). */
export function ownerOf(principal: Principal | undefined): string | undefined {
  return principal === undefined || principal.anonymous ? undefined : principal.userId;
}
