import type { DeadLetter } from './dead-letter';

/** Which dead letters an admin means (a list or a batch replay). Every criterion given must hold. */
export interface DeadLetterCriteria {
  /** The error kind the completion ended with (`errorKind`). */
  kind?: string;
  /** A provider any attempt went to. */
  provider?: string;
  /** ISO 8601; `failedAt` at or after it. */
  since?: string;
  /** ISO 8601; `failedAt` at or before it. */
  until?: string;
  /** Only these letters. */
  ids?: readonly string[];
}

export interface DeadLetterQuery extends DeadLetterCriteria {
  /** Page size, default 50, at most 500. */
  limit?: number;
  offset?: number;
}

export interface DeadLetterPage {
  data: DeadLetter[];
  /** Letters matching the criteria, all pages together. */
  total: number;
  limit: number;
  offset: number;
}

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 500;
/** Letters one batch replay takes when it names no limit, and at most. */
export const DEFAULT_BATCH_LIMIT = 100;
export const MAX_BATCH_LIMIT = 1_000;

/** Whether a letter meets every criterion given. */
export function meetsCriteria(letter: DeadLetter, criteria: DeadLetterCriteria): boolean {
  if (criteria.kind !== undefined && (letter.errorKind as string) !== criteria.kind) return false;
  if (criteria.provider !== undefined && !letter.attempts.some((a) => a.provider === criteria.provider))
    return false;
  if (criteria.ids !== undefined && !criteria.ids.includes(letter.id)) return false;
  if (criteria.since !== undefined || criteria.until !== undefined) {
    const failedAt = Date.parse(letter.failedAt);
    if (Number.isNaN(failedAt)) return false;
    if (criteria.since !== undefined && failedAt < Date.parse(criteria.since)) return false;
    if (criteria.until !== undefined && failedAt > Date.parse(criteria.until)) return false;
  }
  return true;
}

/**
 * Newest failure first. Letters spooled while Redis was down reach the queue after newer ones, so queue order
 * is not failure order; equal times keep the given (queue) order.
 */
export function newestFirst(letters: readonly DeadLetter[]): DeadLetter[] {
  const time = (letter: DeadLetter) => {
    const t = Date.parse(letter.failedAt);
    return Number.isNaN(t) ? 0 : t;
  };
  return letters
    .map((letter, index) => ({ letter, index, t: time(letter) }))
    .sort((a, b) => b.t - a.t || a.index - b.index)
    .map(({ letter }) => letter);
}

/** Selects (by the criteria), orders (newest first) and pages letters. */
export function pageOf(letters: readonly DeadLetter[], query: DeadLetterQuery): DeadLetterPage {
  const limit = Math.min(Math.max(query.limit ?? DEFAULT_LIST_LIMIT, 1), MAX_LIST_LIMIT);
  const offset = Math.max(query.offset ?? 0, 0);
  const matched = newestFirst(letters.filter((letter) => meetsCriteria(letter, query)));
  return { data: matched.slice(offset, offset + limit), total: matched.length, limit, offset };
}
