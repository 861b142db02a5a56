import { StreamErrorCode } from '../../contract/error-code';
import { ProviderError } from '../provider.error';

/** The ProviderError `fn` throws; any other error is rethrown, and throwing nothing fails the test. */
export function providerErrorOf(fn: () => unknown): ProviderError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProviderError) return error;
    throw error;
  }
  throw new Error('nothing was thrown; a ProviderError was expected');
}

/**
 * `fn` must refuse its request as a bad_request that is not retryable and names the field at fault (`param`),
 * in its message too; `more` adds fields to match (provider, message...). Returns the error.
 */
export function expectBadRequest(
  fn: () => unknown,
  param: string,
  more: Partial<Record<keyof ProviderError, unknown>> = {},
): ProviderError {
  const error = providerErrorOf(fn);
  expect(error).toMatchObject({ code: StreamErrorCode.BadRequest, retryable: false, param, ...more });
  expect(error.message).toContain(param);
  return error;
}
