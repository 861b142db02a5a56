import { StreamErrorCode } from '../../contract/error-code';
import { ProviderError } from '../provider.error';

/**
 * Error classification for upstream HTTP providers: every way a vendor call can fail maps to one stream error
 * kind, with `retryable` and the vendor's retry delay. Routing acts on exactly this, so the table is explicit:
 *
 * | upstream                                             | kind                   | retryable |
 * |------------------------------------------------------|------------------------|-----------|
 * | HTTP 401, 403; auth error types                      | authentication_failed  | no        |
 * | HTTP 429, 529; rate_limit / overloaded / RESOURCE_EXHAUSTED | rate_limit_exceeded | yes, with retry delay (quota: no) |
 * | HTTP 408; DEADLINE_EXCEEDED; no headers / no progress in time | provider_timeout | yes  |
 * | HTTP 5xx, 409; server/api error types, error frames  | provider_error         | yes       |
 * | HTTP 404 (the configured model or URL is wrong)      | provider_error         | no        |
 * | HTTP 400, 413, 422; invalid request types            | bad_request            | no        |
 * | malformed frame or body, stream ended unfinished     | invalid_response       | no        |
 * | connection refused / reset / closed mid-body         | connection_lost        | yes       |
 */

/** Vendor error `type`s / `status`es (OpenAI, Anthropic, Gemini) and the kind each one means. */
const VENDOR_TYPES: Record<string, StreamErrorCode> = {
  authentication_error: StreamErrorCode.AuthenticationFailed,
  permission_error: StreamErrorCode.AuthenticationFailed,
  invalid_api_key: StreamErrorCode.AuthenticationFailed,
  UNAUTHENTICATED: StreamErrorCode.AuthenticationFailed,
  PERMISSION_DENIED: StreamErrorCode.AuthenticationFailed,
  rate_limit_error: StreamErrorCode.RateLimitExceeded,
  rate_limit_exceeded: StreamErrorCode.RateLimitExceeded,
  tokens: StreamErrorCode.RateLimitExceeded,
  requests: StreamErrorCode.RateLimitExceeded,
  overloaded_error: StreamErrorCode.RateLimitExceeded,
  RESOURCE_EXHAUSTED: StreamErrorCode.RateLimitExceeded,
  invalid_request_error: StreamErrorCode.BadRequest,
  request_too_large: StreamErrorCode.BadRequest,
  INVALID_ARGUMENT: StreamErrorCode.BadRequest,
  FAILED_PRECONDITION: StreamErrorCode.BadRequest,
  DEADLINE_EXCEEDED: StreamErrorCode.ProviderTimeout,
  timeout_error: StreamErrorCode.ProviderTimeout,
  server_error: StreamErrorCode.ProviderError,
  api_error: StreamErrorCode.ProviderError,
  internal_error: StreamErrorCode.ProviderError,
  INTERNAL: StreamErrorCode.ProviderError,
  UNAVAILABLE: StreamErrorCode.ProviderError,
};

/** What a vendor said about a failure, read from its error body or error frame. */
export interface VendorErrorInfo {
  /** The vendor's error message (scrubbed of secrets before it reaches a client). */
  message?: string;
  /** The vendor's error type/status/code, e.g. `overloaded_error`, `RESOURCE_EXHAUSTED`. */
  type?: string;
  retryAfterMs?: number;
  /** Set when the vendor says precisely what the failure is, whatever the status (Gemini answers a bad API
   * key with 400 INVALID_ARGUMENT and the reason API_KEY_INVALID: that is `authentication_failed`). */
  kind?: StreamErrorCode;
}

const MAX_MESSAGE = 500;

export function httpStatusError(
  provider: string,
  status: number,
  info: VendorErrorInfo,
  secrets: readonly string[] = [],
): ProviderError {
  const kind = info.kind ?? kindForStatus(status, info.type);
  return providerError(provider, kind, info, secrets, status);
}

/** An error reported inside a 200 stream (an error frame): classified by its type, else a provider error. */
export function streamFrameError(
  provider: string,
  info: VendorErrorInfo,
  secrets: readonly string[] = [],
  status?: number,
): ProviderError {
  const byType = info.type === undefined ? undefined : VENDOR_TYPES[info.type];
  const kind =
    byType ?? (status !== undefined ? kindForStatus(status, info.type) : StreamErrorCode.ProviderError);
  return providerError(provider, kind, info, secrets, status);
}

/** The upstream body ended cleanly before the vendor's end marker: the answer was cut short (retryable). */
export function endedEarly(provider: string): ProviderError {
  return new ProviderError(
    StreamErrorCode.ConnectionLost,
    `${provider}: the stream ended before the answer was finished`,
    provider,
    { retryable: true },
  );
}

export function invalidResponse(provider: string, what: string): ProviderError {
  return new ProviderError(StreamErrorCode.InvalidResponse, `${provider}: ${what}`, provider, {
    retryable: false,
  });
}

function kindForStatus(status: number, type: string | undefined): StreamErrorCode {
  if (status === 401 || status === 403) return StreamErrorCode.AuthenticationFailed;
  if (status === 429 || status === 529) return StreamErrorCode.RateLimitExceeded;
  if (status === 408 || status === 504) return StreamErrorCode.ProviderTimeout;
  const byType = type === undefined ? undefined : VENDOR_TYPES[type];
  if (status >= 500 || status === 409) {
    return byType === StreamErrorCode.RateLimitExceeded ? byType : StreamErrorCode.ProviderError;
  }
  if (status === 404) return StreamErrorCode.ProviderError;
  if (status >= 400) return StreamErrorCode.BadRequest;
  return byType ?? StreamErrorCode.ProviderError;
}

function providerError(
  provider: string,
  kind: StreamErrorCode,
  info: VendorErrorInfo,
  secrets: readonly string[],
  status: number | undefined,
): ProviderError {
  const at = status === undefined ? '' : ` (HTTP ${status})`;
  const vendorMessage = info.message ? scrubSecrets(info.message, secrets).slice(0, MAX_MESSAGE) : '';
  let message: string;
  let retryable: boolean;
  switch (kind) {
    case StreamErrorCode.AuthenticationFailed:
      // Vendors echo part of the key in these messages; never pass them on.
      message = `${provider} rejected the credentials${at}. Check the provider's API key.`;
      retryable = false;
      break;
    case StreamErrorCode.RateLimitExceeded: {
      const quota = info.type === 'insufficient_quota' || /quota/i.test(info.message ?? '');
      message = `${provider} is rate limiting or overloaded${at}: ${vendorMessage || 'too many requests'}`;
      retryable = !quota || info.retryAfterMs !== undefined;
      break;
    }
    case StreamErrorCode.BadRequest:
      message = `${provider} rejected the request${at}: ${vendorMessage || 'invalid request'}`;
      retryable = false;
      break;
    case StreamErrorCode.ProviderTimeout:
      message = `${provider} timed out${at}: ${vendorMessage || 'deadline exceeded'}`;
      retryable = true;
      break;
    case StreamErrorCode.ProviderError:
    case StreamErrorCode.ConnectionLost:
    case StreamErrorCode.InvalidResponse:
    case StreamErrorCode.Forbidden:
    case StreamErrorCode.Cancelled:
    case StreamErrorCode.Internal:
    case StreamErrorCode.MemoryLimitExceeded:
    case StreamErrorCode.ServiceUnavailable:
    case StreamErrorCode.StreamOwnerLost:
      message = `${provider} failed${at}: ${vendorMessage || 'provider error'}`;
      retryable = status !== 404;
      break;
  }
  return new ProviderError(kind, message, provider, {
    retryable,
    retryAfterMs: info.retryAfterMs,
    status,
    vendorType: info.type,
  });
}

interface ErrorWithCode {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

export interface TransportTimeouts {
  connect: number;
  firstByte: number;
  idle: number;
}

/**
 * An error thrown by the HTTP client (undici) or the socket -> a classified ProviderError. Returns undefined
 * for errors that are not transport failures (the caller rethrows them as they are).
 */
export function transportError(
  provider: string,
  err: unknown,
  timeouts: TransportTimeouts,
): ProviderError | undefined {
  const code = errorCode(err);
  if (code === undefined) return undefined;
  const timeout = (message: string) =>
    new ProviderError(StreamErrorCode.ProviderTimeout, `${provider}: ${message}`, provider, {
      retryable: true,
      cause: err,
    });
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return timeout(`could not connect within ${timeouts.connect} ms`);
    case 'UND_ERR_HEADERS_TIMEOUT':
      return timeout(`no response within ${timeouts.firstByte} ms`);
    case 'UND_ERR_BODY_TIMEOUT':
      return timeout(`the stream made no progress for ${timeouts.idle} ms`);
    default:
      if (!CONNECTION_CODES.has(code)) return undefined;
      return new ProviderError(
        StreamErrorCode.ConnectionLost,
        `${provider}: the connection failed or was closed (${code})`,
        provider,
        { retryable: true, cause: err },
      );
  }
}

function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, cause } = current as ErrorWithCode;
    if (typeof code === 'string' && code !== '') return code;
    current = cause;
  }
  return undefined;
}

/**
 * The vendor's retry delay from response headers: `retry-after-ms`, `retry-after` (seconds or an HTTP date).
 */
export function retryAfterFromHeaders(
  headers: Record<string, string | string[] | undefined>,
  now = Date.now(),
): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const after = header(headers, 'retry-after');
  if (after === undefined) return rateLimitReset(headers);
  if (/^\d+(\.\d+)?$/.test(after)) return Math.ceil(Number(after) * 1000);
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * OpenAI's `x-ratelimit-reset-requests` / `-tokens` (`1s`, `6m0s`, `17ms`): when the exhausted limit resets.
 * The longer of the two that are exhausted (remaining 0), or of both when neither says.
 */
function rateLimitReset(headers: Record<string, string | string[] | undefined>): number | undefined {
  let wait: number | undefined;
  for (const kind of ['requests', 'tokens']) {
    const reset = parseGoDuration(header(headers, `x-ratelimit-reset-${kind}`));
    if (reset === undefined || header(headers, `x-ratelimit-remaining-${kind}`) === undefined) continue;
    if (header(headers, `x-ratelimit-remaining-${kind}`) !== '0') continue;
    wait = Math.max(wait ?? 0, reset);
  }
  return wait;
}

const GO_DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
const GO_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Go-style duration (`6m0s`, `1.5s`, `20ms`) in milliseconds. */
function parseGoDuration(value: string | undefined): number | undefined {
  if (value === undefined || !/^(\d+(\.\d+)?(ms|h|m|s))+$/.test(value)) return undefined;
  let total = 0;
  for (const [, amount, unit] of value.matchAll(GO_DURATION_PART)) total += Number(amount) * GO_UNITS[unit!]!;
  return Math.ceil(total);
}

/** A protobuf Duration string (`"22s"`, `"1.5s"`) as milliseconds. */
export function parseProtoDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return match ? Math.ceil(Number(match[1]) * 1000) : undefined;
}

export function header(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Key-shaped strings vendors may echo back (OpenAI/Anthropic/OpenRouter keys, Google API keys, bearer tokens). */
const KEY_PATTERN = /\b(?:sk-[A-Za-z0-9_-]{6,}|AIza[0-9A-Za-z_-]{20,}|Bearer\s+[A-Za-z0-9._~+/=-]{8,})/g;

/** Removes the given secrets and anything shaped like an API key from text meant for clients or logs. */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out.replace(KEY_PATTERN, '[redacted]');
}
