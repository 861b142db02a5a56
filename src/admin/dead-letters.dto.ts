import { CompletionError, RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import { isObject } from '../common/is-object';
import { isDeadLetterId } from '../dead-letter/dead-letter';
import {
  DEFAULT_BATCH_LIMIT,
  type DeadLetterCriteria,
  type DeadLetterQuery,
  MAX_BATCH_LIMIT,
  MAX_LIST_LIMIT,
} from '../dead-letter/dead-letter-query';

/**
 * Hand-written validation of the dead-letter admin API's inputs (an admin path: no class-validator needed).
 * Every refusal is a 400 `invalid_request` naming the parameter.
 */

export interface BatchReplayRequest {
  criteria: DeadLetterCriteria;
  limit: number;
}

const KINDS: ReadonlySet<string> = new Set(Object.values(StreamErrorCode));
const LIST_KEYS = new Set(['limit', 'offset', 'kind', 'provider', 'since', 'until']);
const BATCH_KEYS = new Set(['kind', 'provider', 'since', 'until', 'ids', 'limit']);
const MAX_PROVIDER = 128;

/** `GET /admin/dead-letters` query: limit (1..500, default 50), offset, kind, provider, since, until. */
export function parseListQuery(query: unknown): DeadLetterQuery {
  const fields = isObject(query) ? query : {};
  rejectUnknown(fields, LIST_KEYS, 'query parameter');
  const out: DeadLetterQuery = parseCriteria(fields);
  if (fields.limit !== undefined) out.limit = integer(fields.limit, 'limit', 1, MAX_LIST_LIMIT);
  if (fields.offset !== undefined) out.offset = integer(fields.offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
  return out;
}

/** `POST /admin/dead-letters/replay` body: the list criteria plus `ids` and `limit` (1..1000, default 100). */
export function parseBatchReplay(body: unknown): BatchReplayRequest {
  if (body === undefined || body === null) return { criteria: {}, limit: DEFAULT_BATCH_LIMIT };
  if (!isObject(body)) throw invalid('The request body must be a JSON object.');
  rejectUnknown(body, BATCH_KEYS, 'field');
  const criteria = parseCriteria(body);
  if (body.ids !== undefined) {
    const { ids } = body;
    if (!Array.isArray(ids) || ids.length > MAX_BATCH_LIMIT || !ids.every(isIdString))
      throw invalid(`ids must be an array of at most ${MAX_BATCH_LIMIT} dead-letter ids (dl-…).`, 'ids');
    criteria.ids = ids;
  }
  const limit =
    body.limit === undefined ? DEFAULT_BATCH_LIMIT : integer(body.limit, 'limit', 1, MAX_BATCH_LIMIT, true);
  return { criteria, limit };
}

function parseCriteria(fields: Record<string, unknown>): DeadLetterCriteria {
  const criteria: DeadLetterCriteria = {};
  if (fields.kind !== undefined) {
    if (typeof fields.kind !== 'string' || !KINDS.has(fields.kind))
      throw invalid(`kind must be one of ${[...KINDS].join(', ')}.`, 'kind');
    criteria.kind = fields.kind;
  }
  if (fields.provider !== undefined) {
    const { provider } = fields;
    if (typeof provider !== 'string' || provider === '' || provider.length > MAX_PROVIDER)
      throw invalid('provider must be a provider id.', 'provider');
    criteria.provider = provider;
  }
  if (fields.since !== undefined) criteria.since = instant(fields.since, 'since');
  if (fields.until !== undefined) criteria.until = instant(fields.until, 'until');
  if (criteria.since !== undefined && criteria.until !== undefined && criteria.since > criteria.until)
    throw invalid('since must not be after until.', 'since');
  return criteria;
}

/** An ISO 8601 date or date-time, normalized to UTC ISO. */
function instant(value: unknown, param: string): string {
  const time = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(time)) throw invalid(`${param} must be an ISO 8601 date-time.`, param);
  return new Date(time).toISOString();
}

/** A query string integer ("10"), or with `json`, a JSON number. */
function integer(value: unknown, param: string, min: number, max: number, json = false): number {
  const n = json ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw invalid(`${param} must be an integer from ${min} to ${max}.`, param);
  return n;
}

function isIdString(value: unknown): value is string {
  return typeof value === 'string' && isDeadLetterId(value);
}

function rejectUnknown(fields: Record<string, unknown>, known: ReadonlySet<string>, what: string): void {
  const unknown = Object.keys(fields).find((key) => !known.has(key));
  if (unknown !== undefined)
    throw invalid(`Unknown ${what} ${unknown}; expected ${[...known].join(', ')}.`, unknown);
}

function invalid(message: string, param?: string): CompletionError {
  return new CompletionError(RequestErrorCode.InvalidRequest, message, { param });
}
