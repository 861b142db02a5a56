import { StreamErrorCode } from '../contract/error-code';
import type { ErrorHandlingConfig } from '../config/app-config';
import type { StreamError } from '../contract/stream-event';

/** What to do after an attempt failed before its first token. */
export type Recovery =
  /** The same provider again, after `delayMs` (backoff with jitter, or the provider's retry-after). */
  | { action: 'retry'; delayMs: number }
  /** The next provider of the chain, at once. */
  | { action: 'next' }
  /** Give up: the request ends with this error. */
  | { action: 'fail' };

export interface RecoveryInputs {
  /** Retries of this same provider so far. */
  retries: number;
  /** Whether another provider is left in the chain (one whose circuit is not known to be open). */
  hasNext: boolean;
  /** The failing attempt used the caller's own key (X-Provider-Key). */
  callerKey: boolean;
  /** A number in [0, 1) for the jitter; tests pass a fixed one. */
  random?: () => number;
}

type Settings = Pick<
  ErrorHandlingConfig,
  'max_retries' | 'retry_delay' | 'max_retry_delay' | 'max_rate_limit_wait'
>;

/**
 * The recovery table (docs/routing.md), one row per error kind:
 * - connection_lost: the same provider again with exponential backoff and jitter, up to max_retries; then next.
 * - provider_timeout: next (a stalled provider is not waited for twice).
 * - rate_limit_exceeded: next at once if one is left; else wait the provider's retry-after when it is at most
 *   max_rate_limit_wait (and retries remain); else fail with 429 and the retry-after.
 * - provider_error (5xx, overloaded, an error frame, 404): next; with no next, retryable ones are retried.
 * - invalid_response: never the same provider again; next if one is left (the request is dead-lettered if the
 *   chain ends in it).
 * - authentication_failed: never retried; next when the key was the operator's (the provider is flagged as
 *   misconfigured), fail when it was the caller's own key.
 * - everything else (bad request, cancelled, memory limit, draining, internal): fail.
 */
export function recoveryFor(error: StreamError, inputs: RecoveryInputs, settings: Settings): Recovery {
  const { retries, hasNext } = inputs;
  const canRetry = retries < settings.max_retries;
  switch (error.code) {
    case StreamErrorCode.ConnectionLost:
      if (canRetry) return { action: 'retry', delayMs: backoff(retries, settings, inputs.random) };
      return hasNext ? { action: 'next' } : { action: 'fail' };
    case StreamErrorCode.ProviderTimeout:
      return hasNext ? { action: 'next' } : { action: 'fail' };
    case StreamErrorCode.RateLimitExceeded: {
      if (hasNext) return { action: 'next' };
      const wait = error.retryAfterMs;
      if (error.retryable && canRetry && wait !== undefined && wait <= settings.max_rate_limit_wait)
        return { action: 'retry', delayMs: wait };
      return { action: 'fail' };
    }
    case StreamErrorCode.ProviderError:
      if (hasNext) return { action: 'next' };
      if (error.retryable && canRetry) {
        const delayMs = Math.max(error.retryAfterMs ?? 0, backoff(retries, settings, inputs.random));
        return delayMs <= settings.max_rate_limit_wait ? { action: 'retry', delayMs } : { action: 'fail' };
      }
      return { action: 'fail' };
    case StreamErrorCode.InvalidResponse:
      return hasNext ? { action: 'next' } : { action: 'fail' };
    case StreamErrorCode.AuthenticationFailed:
      return hasNext && !inputs.callerKey ? { action: 'next' } : { action: 'fail' };
    case StreamErrorCode.MemoryLimitExceeded:
    case StreamErrorCode.Cancelled:
    case StreamErrorCode.BadRequest:
    case StreamErrorCode.Forbidden:
    case StreamErrorCode.ServiceUnavailable:
    case StreamErrorCode.StreamOwnerLost:
    case StreamErrorCode.Internal:
      return { action: 'fail' };
  }
}

/**
 * Exponential backoff with "equal jitter": half of the doubled delay is fixed, half random, so retries
 * spread out but still grow. Capped at max_retry_delay.
 */
export function backoff(retries: number, settings: Settings, random: () => number = Math.random): number {
  const ceiling = Math.min(settings.max_retry_delay, settings.retry_delay * 2 ** retries);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Errors that count against a provider's circuit (the provider is unwell, not the request or the caller). */
export function countsAgainstProvider(code: StreamErrorCode): boolean {
  return (
    code === StreamErrorCode.ConnectionLost ||
    code === StreamErrorCode.ProviderTimeout ||
    code === StreamErrorCode.RateLimitExceeded ||
    code === StreamErrorCode.ProviderError ||
    code === StreamErrorCode.InvalidResponse
  );
}

/** Final errors that dead-letter the request: the chain broke (as opposed to the request or the caller). */
export function deadLetters(code: StreamErrorCode): boolean {
  return countsAgainstProvider(code) || code === StreamErrorCode.AuthenticationFailed;
}
