import { isObject } from '../common/is-object';
import type { Principal } from '../contract/principal';

export const REVOCATION_KINDS = ['jti', 'sub'] as const;
/** `jti`: one token, by its id. `sub`: every token of a user issued before a moment. */
export type RevocationKind = (typeof REVOCATION_KINDS)[number];

/** One entry of the denylist, as stored in Redis and held in memory. Times are ms since the epoch. */
export interface Revocation {
  readonly kind: RevocationKind;
  /** The token id (jti) or the user id (the `auth.claims.user_id` claim, `sub` by default). */
  readonly value: string;
  readonly revokedAt: number;
  /** When the entry is forgotten: every token it refuses has expired by then. */
  readonly retainUntil: number;
  /** `jti`: the revoked token's own expiry, when the revocation named it. */
  readonly expiresAt?: number;
  /** `sub`: tokens issued (`iat`) before this are refused; tokens without `iat` too. */
  readonly issuedBefore?: number;
  /** Free text for the admins who list revocations; never shown to the token's holder. */
  readonly reason?: string;
  /** The admin who revoked (their user id). */
  readonly revokedBy?: string;
}

/** `jti:<id>` / `sub:<user>`: a revocation's name in Redis and in pub/sub messages. */
export function revocationMember(kind: RevocationKind, value: string): string {
  return `${kind}:${value}`;
}

/**
 * The revocations one node knows, by token id and by user, so that checking a principal costs two map lookups
 * and never a Redis round trip. Entries past `retainUntil` are ignored, and dropped by `prune`.
 */
export class Denylist {
  private readonly tokens = new Map<string, Revocation>();
  private readonly subjects = new Map<string, Revocation>();

  get size(): number {
    return this.tokens.size + this.subjects.size;
  }

  /** The revocation that refuses this principal's token, if any. */
  refusal(principal: Principal, now: number): Revocation | undefined {
    if (this.tokens.size > 0 && principal.tokenId !== undefined) {
      const entry = this.tokens.get(principal.tokenId);
      if (entry && now < entry.retainUntil) return entry;
    }
    if (this.subjects.size > 0) {
      const entry = this.subjects.get(principal.userId);
      if (entry && now < entry.retainUntil && refusesIssue(entry, principal.issuedAt)) return entry;
    }
    return undefined;
  }

  /** Adds or replaces an entry; true when that changed what is refused (the caller tells live connections). */
  add(entry: Revocation): boolean {
    const map = this.mapOf(entry.kind);
    const previous = map.get(entry.value);
    map.set(entry.value, entry);
    return !previous || !sameEffect(previous, entry);
  }

  remove(kind: RevocationKind, value: string): boolean {
    return this.mapOf(kind).delete(value);
  }

  /**
   * Takes the full list (a re-read from Redis) in place of what is held; returns the entries that are new or
   * changed, which live connections must hear about (a pub/sub message was missed).
   */
  replace(entries: readonly Revocation[], now: number): Revocation[] {
    const fresh: Revocation[] = [];
    const seen = { jti: new Set<string>(), sub: new Set<string>() };
    for (const entry of entries) {
      if (now >= entry.retainUntil) continue;
      seen[entry.kind].add(entry.value);
      if (this.add(entry)) fresh.push(entry);
    }
    for (const kind of REVOCATION_KINDS) {
      const map = this.mapOf(kind);
      for (const value of map.keys()) if (!seen[kind].has(value)) map.delete(value);
    }
    return fresh;
  }

  /** Drops the entries whose tokens have all expired. */
  prune(now: number): void {
    for (const map of [this.tokens, this.subjects]) {
      for (const [value, entry] of map) if (now >= entry.retainUntil) map.delete(value);
    }
  }

  private mapOf(kind: RevocationKind): Map<string, Revocation> {
    return kind === 'jti' ? this.tokens : this.subjects;
  }
}

/** A subject's revocation refuses tokens issued before its cutoff, and tokens that do not say when. */
function refusesIssue(entry: Revocation, issuedAt: number | undefined): boolean {
  return issuedAt === undefined || entry.issuedBefore === undefined || issuedAt < entry.issuedBefore;
}

function sameEffect(a: Revocation, b: Revocation): boolean {
  return a.retainUntil === b.retainUntil && a.issuedBefore === b.issuedBefore;
}

/** A revocation read from Redis or a pub/sub message; undefined when it is not one (never trusted blindly). */
export function parseRevocation(value: unknown): Revocation | undefined {
  if (!isObject(value)) return undefined;
  const { kind, revokedAt, retainUntil, expiresAt, issuedBefore, reason, revokedBy } = value;
  if (kind !== 'jti' && kind !== 'sub') return undefined;
  if (typeof value.value !== 'string' || value.value === '') return undefined;
  if (!isTime(revokedAt) || !isTime(retainUntil)) return undefined;
  if (expiresAt !== undefined && !isTime(expiresAt)) return undefined;
  if (issuedBefore !== undefined && !isTime(issuedBefore)) return undefined;
  if (kind === 'sub' && issuedBefore === undefined) return undefined;
  return {
    kind,
    value: value.value,
    revokedAt,
    retainUntil,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(issuedBefore === undefined ? {} : { issuedBefore }),
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof revokedBy === 'string' ? { revokedBy } : {}),
  };
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
