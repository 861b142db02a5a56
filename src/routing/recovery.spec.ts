import { StreamErrorCode } from '../contract/error-code';
import type { StreamError } from '../contract/stream-event';
import { backoff, countsAgainstProvider, deadLetters, recoveryFor, type RecoveryInputs } from './recovery';

const settings = { max_retries: 2, retry_delay: 100, max_retry_delay: 1000, max_rate_limit_wait: 5000 };
const error = (code: StreamErrorCode, over: Partial<StreamError> = {}): StreamError => ({
  code,
  message: code,
  retryable: true,
  ...over,
});
const inputs = (over: Partial<RecoveryInputs> = {}): RecoveryInputs => ({
  retries: 0,
  hasNext: true,
  callerKey: false,
  random: () => 0.5,
  ...over,
});

describe('recoveryFor', () => {
  it('connection_lost: retries the same provider with backoff up to max_retries, then moves on or fails', () => {
    const lost = error(StreamErrorCode.ConnectionLost);
    expect(recoveryFor(lost, inputs(), settings)).toEqual({ action: 'retry', delayMs: 75 });
    expect(recoveryFor(lost, inputs({ retries: 1 }), settings)).toEqual({ action: 'retry', delayMs: 150 });
    expect(recoveryFor(lost, inputs({ retries: 2 }), settings)).toEqual({ action: 'next' });
    expect(recoveryFor(lost, inputs({ retries: 2, hasNext: false }), settings)).toEqual({ action: 'fail' });
  });

  it('provider_timeout: next provider, never the stalled one again', () => {
    const timeout = error(StreamErrorCode.ProviderTimeout);
    expect(recoveryFor(timeout, inputs(), settings)).toEqual({ action: 'next' });
    expect(recoveryFor(timeout, inputs({ hasNext: false }), settings)).toEqual({ action: 'fail' });
  });

  it('rate_limit_exceeded: next at once; alone, waits a short retry-after, fails on a long one or no quota', () => {
    const limited = error(StreamErrorCode.RateLimitExceeded, { retryAfterMs: 2000 });
    expect(recoveryFor(limited, inputs(), settings)).toEqual({ action: 'next' });
    expect(recoveryFor(limited, inputs({ hasNext: false }), settings)).toEqual({
      action: 'retry',
      delayMs: 2000,
    });
    const long = { ...limited, retryAfterMs: 60_000 };
    expect(recoveryFor(long, inputs({ hasNext: false }), settings)).toEqual({ action: 'fail' });
    const quota = { ...limited, retryable: false };
    expect(recoveryFor(quota, inputs({ hasNext: false }), settings)).toEqual({ action: 'fail' });
    const unknownDelay = { ...limited, retryAfterMs: undefined };
    expect(recoveryFor(unknownDelay, inputs({ hasNext: false }), settings)).toEqual({ action: 'fail' });
    expect(recoveryFor(limited, inputs({ hasNext: false, retries: 2 }), settings)).toEqual({
      action: 'fail',
    });
  });

  it('invalid_response and authentication_failed are never retried on the same provider', () => {
    const invalid = error(StreamErrorCode.InvalidResponse);
    expect(recoveryFor(invalid, inputs(), settings)).toEqual({ action: 'next' });
    expect(recoveryFor(invalid, inputs({ hasNext: false }), settings)).toEqual({ action: 'fail' });
    const auth = error(StreamErrorCode.AuthenticationFailed, { retryable: false });
    expect(recoveryFor(auth, inputs(), settings)).toEqual({ action: 'next' });
    expect(recoveryFor(auth, inputs({ callerKey: true }), settings)).toEqual({ action: 'fail' });
  });

  it('provider_error: next; alone, a retryable one is retried with backoff', () => {
    const server = error(StreamErrorCode.ProviderError);
    expect(recoveryFor(server, inputs(), settings)).toEqual({ action: 'next' });
    expect(recoveryFor(server, inputs({ hasNext: false }), settings)).toEqual({
      action: 'retry',
      delayMs: 75,
    });
    const notFound = error(StreamErrorCode.ProviderError, { retryable: false });
    expect(recoveryFor(notFound, inputs({ hasNext: false }), settings)).toEqual({ action: 'fail' });
  });

  it.each([
    StreamErrorCode.BadRequest,
    StreamErrorCode.Cancelled,
    StreamErrorCode.MemoryLimitExceeded,
    StreamErrorCode.ServiceUnavailable,
    StreamErrorCode.Internal,
    StreamErrorCode.Forbidden,
  ])('%s fails at once', (code) => {
    expect(recoveryFor(error(code), inputs(), settings)).toEqual({ action: 'fail' });
  });

  it('backoff doubles with equal jitter and stops at max_retry_delay', () => {
    expect([0, 1, 2, 3, 4].map((n) => backoff(n, settings, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([0, 1, 2, 3, 4].map((n) => backoff(n, settings, () => 0.999999))).toEqual([
      100, 200, 400, 800, 1000,
    ]);
  });

  it('what counts against a circuit and what is dead-lettered', () => {
    expect(countsAgainstProvider(StreamErrorCode.BadRequest)).toBe(false);
    expect(countsAgainstProvider(StreamErrorCode.RateLimitExceeded)).toBe(true);
    expect(countsAgainstProvider(StreamErrorCode.AuthenticationFailed)).toBe(false);
    expect(deadLetters(StreamErrorCode.AuthenticationFailed)).toBe(true);
    expect(deadLetters(StreamErrorCode.InvalidResponse)).toBe(true);
    expect(deadLetters(StreamErrorCode.Cancelled)).toBe(false);
  });
});
