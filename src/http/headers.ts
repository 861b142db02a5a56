/** Response headers naming what served a completion. */
export const PROVIDER_HEADER = 'x-circuit-breaker-provider';
export const MODEL_HEADER = 'x-circuit-breaker-model';
export const REQUEST_ID_HEADER = 'x-request-id';

export function servedByHeaders(served: { provider: string; model: string }): Record<string, string> {
  return { [PROVIDER_HEADER]: served.provider, [MODEL_HEADER]: served.model };
}
