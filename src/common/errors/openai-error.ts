import { type ErrorCode, RequestErrorCode, StreamErrorCode } from '../../contract/error-code';

/**
 * OpenAI's error body: `{"error":{"message","type","param","code"}}`, all four keys always present; a failed
 * completion that was dead-lettered also names its letter (`dead_letter_id`), which OpenAI clients ignore.
 */
export interface OpenAiErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    dead_letter_id?: string;
  };
}

interface HttpMapping {
  status: number;
  type: string;
}

const MAPPING: Record<ErrorCode, HttpMapping> = {
  [RequestErrorCode.InvalidRequest]: { status: 400, type: 'invalid_request_error' },
  [RequestErrorCode.UnsupportedValue]: { status: 400, type: 'invalid_request_error' },
  [RequestErrorCode.ModelNotFound]: { status: 404, type: 'invalid_request_error' },
  [RequestErrorCode.NotFound]: { status: 404, type: 'invalid_request_error' },
  [RequestErrorCode.RequestTooLarge]: { status: 413, type: 'invalid_request_error' },
  [RequestErrorCode.UnsupportedMediaType]: { status: 415, type: 'invalid_request_error' },
  [RequestErrorCode.ProviderKeyMissing]: { status: 401, type: 'authentication_error' },
  [RequestErrorCode.Unauthorized]: { status: 401, type: 'authentication_error' },
  [RequestErrorCode.InvalidWorkflow]: { status: 400, type: 'invalid_request_error' },
  [RequestErrorCode.Conflict]: { status: 409, type: 'invalid_request_error' },
  [StreamErrorCode.BadRequest]: { status: 400, type: 'invalid_request_error' },
  [StreamErrorCode.AuthenticationFailed]: { status: 401, type: 'authentication_error' },
  [StreamErrorCode.Forbidden]: { status: 403, type: 'permission_error' },
  [StreamErrorCode.RateLimitExceeded]: { status: 429, type: 'rate_limit_error' },
  [StreamErrorCode.Cancelled]: { status: 499, type: 'cancelled' },
  [StreamErrorCode.Internal]: { status: 500, type: 'server_error' },
  [StreamErrorCode.MemoryLimitExceeded]: { status: 500, type: 'server_error' },
  [StreamErrorCode.ConnectionLost]: { status: 502, type: 'upstream_error' },
  [StreamErrorCode.InvalidResponse]: { status: 502, type: 'upstream_error' },
  [StreamErrorCode.ProviderError]: { status: 502, type: 'upstream_error' },
  [StreamErrorCode.ServiceUnavailable]: { status: 503, type: 'server_error' },
  [StreamErrorCode.StreamOwnerLost]: { status: 503, type: 'server_error' },
  [StreamErrorCode.ProviderTimeout]: { status: 504, type: 'upstream_error' },
};

export function httpMappingFor(code: ErrorCode): HttpMapping {
  return MAPPING[code];
}

export function openAiErrorBody(
  code: string | null,
  message: string,
  type: string,
  param?: string,
  deadLetterId?: string,
): OpenAiErrorBody {
  const error: OpenAiErrorBody['error'] = { message, type, param: param ?? null, code };
  if (deadLetterId !== undefined) error.dead_letter_id = deadLetterId;
  return { error };
}

const STATUS_TYPES: Record<number, string> = {
  401: 'authentication_error',
  403: 'permission_error',
  429: 'rate_limit_error',
};

/** Error type for a bare HTTP status (framework errors that carry no domain code). */
export function typeForStatus(status: number): string {
  return STATUS_TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
}
