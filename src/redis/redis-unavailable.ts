import { CompletionError, StreamErrorCode } from '../contract/error-code';

/** What a caller gets when Redis does not answer a call it needs (`what`: the part that needs it). */
export function redisUnavailable(cause: unknown, what = 'Redis'): CompletionError {
  return new CompletionError(StreamErrorCode.ServiceUnavailable, `${what} is unavailable; retry shortly.`, {
    retryable: true,
    retryAfterMs: 1_000,
    cause,
  });
}
