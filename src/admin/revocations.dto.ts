import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { isObject } from '../common/is-object';
import { MAX_TOKEN_ID_LENGTH, MAX_USER_ID_LENGTH } from '../auth/claims';
import { type Revocation, REVOCATION_KINDS, type RevocationKind } from '../auth/denylist';
import type { RevocationRequest } from '../auth/revocation-list';

/**
 * Validation of the revocation admin API's inputs (hand-written, like the dead-letter API's). Every refusal is
 * a 400 `invalid_request` naming the parameter.
 */

export const DEFAULT_REVOCATION_LIMIT = 100;
export const MAX_REVOCATION_LIMIT = 1_000;
const MAX_REASON = 500;
const BODY_KEYS = new Set(['jti', 'sub', 'expiresAt', 'issuedBefore', 'reason']);
const LIST_KEYS = new Set(['kind', 'limit', 'offset']);

/** A revocation as the API shows it (times as ISO 8601). */
export interface RevocationView {
  kind: RevocationKind;
  /** The token id (`jti`) or the user id (`sub`). */
  value: string;
  revokedAt: string;
  /** `jti`: the token's expiry, when the request named it. */
  expiresAt?: string;
  /** `sub`: tokens issued before this are refused. */
  issuedBefore?: string;
  /** When the revocation is forgotten (every token it refuses has expired by then). */
  retainedUntil: string;
  reason?: string;
  revokedBy?: string;
}

export interface RevocationPage {
  data: RevocationView[];
  total: number;
  limit: number;
  offset: number;
}

export interface RevocationListQuery {
  kind?: RevocationKind;
  limit: number;
  offset: number;
}

/**
 * `POST /admin/revocations` body: `{"jti": "...", "expiresAt"?: time}` (one token) or
 * `{"sub": "...", "issuedBefore"?: time}` (the user's tokens issued before then; default now), each with an
 * optional `reason`. A time is an ISO 8601 date-time or a number of seconds since the epoch (as `exp` is).
 */
export function parseRevocationRequest(body: unknown): RevocationRequest {
  if (!isObject(body)) throw invalid('The request body must be a JSON object with "jti" or "sub".');
  rejectUnknown(body, BODY_KEYS, 'field');
  const { jti, sub, expiresAt, issuedBefore } = body;
  if ((jti === undefined) === (sub === undefined)) {
    throw invalid('Name exactly one of "jti" (one token) or "sub" (a user\'s tokens).', jti ? 'sub' : 'jti');
  }
  const reason = body.reason === undefined ? undefined : text(body.reason, 'reason', MAX_REASON);
  const withReason = reason === undefined ? {} : { reason };
  if (jti !== undefined) {
    if (issuedBefore !== undefined) throw invalid('issuedBefore goes with "sub", not "jti".', 'issuedBefore');
    return {
      kind: 'jti',
      value: text(jti, 'jti', MAX_TOKEN_ID_LENGTH),
      ...(expiresAt === undefined ? {} : { expiresAt: time(expiresAt, 'expiresAt') }),
      ...withReason,
    };
  }
  if (expiresAt !== undefined) throw invalid('expiresAt goes with "jti", not "sub".', 'expiresAt');
  return {
    kind: 'sub',
    value: text(sub, 'sub', MAX_USER_ID_LENGTH),
    ...(issuedBefore === undefined ? {} : { issuedBefore: time(issuedBefore, 'issuedBefore') }),
    ...withReason,
  };
}

/** `GET /admin/revocations` query: kind (jti | sub), limit (1..1000, default 100), offset. */
export function parseRevocationListQuery(query: unknown): RevocationListQuery {
  const fields = isObject(query) ? query : {};
  rejectUnknown(fields, LIST_KEYS, 'query parameter');
  return {
    ...(fields.kind === undefined ? {} : { kind: parseRevocationKind(fields.kind) }),
    limit:
      fields.limit === undefined
        ? DEFAULT_REVOCATION_LIMIT
        : integer(fields.limit, 'limit', 1, MAX_REVOCATION_LIMIT),
    offset: fields.offset === undefined ? 0 : integer(fields.offset, 'offset', 0, Number.MAX_SAFE_INTEGER),
  };
}

/** The `:kind` of `DELETE /admin/revocations/:kind/:value`. */
export function parseRevocationKind(value: unknown): RevocationKind {
  if (typeof value === 'string' && (REVOCATION_KINDS as readonly string[]).includes(value)) {
    return value as RevocationKind;
  }
  throw invalid(`kind must be one of ${REVOCATION_KINDS.join(', ')}.`, 'kind');
}

/** The `:value` of `DELETE /admin/revocations/:kind/:value`. */
export function parseRevocationValue(kind: RevocationKind, value: unknown): string {
  return text(value, 'value', kind === 'jti' ? MAX_TOKEN_ID_LENGTH : MAX_USER_ID_LENGTH);
}

export function revocationView(entry: Revocation): RevocationView {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    kind: entry.kind,
    value: entry.value,
    revokedAt: iso(entry.revokedAt),
    ...(entry.expiresAt === undefined ? {} : { expiresAt: iso(entry.expiresAt) }),
    ...(entry.issuedBefore === undefined ? {} : { issuedBefore: iso(entry.issuedBefore) }),
    retainedUntil: iso(entry.retainUntil),
    ...(entry.reason === undefined ? {} : { reason: entry.reason }),
    ...(entry.revokedBy === undefined ? {} : { revokedBy: entry.revokedBy }),
  };
}

/** One page of the revocations (newest first) a query selects. */
export function revocationPage(entries: readonly Revocation[], query: RevocationListQuery): RevocationPage {
  const selected = query.kind === undefined ? entries : entries.filter((e) => e.kind === query.kind);
  return {
    data: selected.slice(query.offset, query.offset + query.limit).map(revocationView),
    total: selected.length,
    limit: query.limit,
    offset: query.offset,
  };
}

function text(value: unknown, param: string, max: number): string {
  if (typeof value !== 'string' || value === '' || value.length > max) {
    throw invalid(`${param} must be a string of 1 to ${max} characters.`, param);
  }
  return value;
}

/** An ISO 8601 date-time, or seconds since the epoch (a JWT NumericDate); as ms since the epoch. */
function time(value: unknown, param: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0 && value < 1e11) return value * 1000;
  const ms = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw invalid(`${param} must be an ISO 8601 date-time or a number of seconds since the epoch.`, param);
  }
  return ms;
}

/** A query string integer ("10"). */
function integer(value: unknown, param: string, min: number, max: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw invalid(`${param} must be an integer from ${min} to ${max}.`, param);
  }
  return n;
}

function rejectUnknown(fields: Record<string, unknown>, known: ReadonlySet<string>, what: string): void {
  const unknown = Object.keys(fields).find((key) => !known.has(key));
  if (unknown !== undefined) {
    throw invalid(`Unknown ${what} ${unknown}; expected ${[...known].join(', ')}.`, unknown);
  }
}

function invalid(message: string, param?: string): CompletionError {
  return new CompletionError(RequestErrorCode.InvalidRequest, message, { param });
}
