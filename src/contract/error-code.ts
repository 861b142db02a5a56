/**
 * Error kinds a stream can end with. Every protocol edge maps these to its own wire form
 * (OpenAI error JSON, a WebSocket `error` message, a GraphQL error).
 */
export enum StreamErrorCode {
  ConnectionLost = 'connection_lost',
  ProviderTimeout = 'provider_timeout',
  RateLimitExceeded = 'rate_limit_exceeded',
  InvalidResponse = 'invalid_response',
  AuthenticationFailed = 'authentication_failed',
  MemoryLimitExceeded = 'memory_limit_exceeded',
  Cancelled = 'cancelled',
  BadRequest = 'bad_request',
  Forbidden = 'forbidden',
  /** The provider failed (5xx, overloaded, an error frame); `retryable` says whether another try may work. */
  ProviderError = 'provider_error',
  /** The node is draining (shutdown) or over a capacity limit; retry elsewhere. */
  ServiceUnavailable = 'service_unavailable',
  /** The node running a followed stream stopped refreshing its lease (it died); the stream is lost; start it again. */
  StreamOwnerLost = 'stream_owner_lost',
  Internal = 'internal_error',
}

/** Errors raised before any stream exists (request validation, lookup, capacity). */
export enum RequestErrorCode {
  InvalidRequest = 'invalid_request',
  UnsupportedValue = 'unsupported_value',
  ModelNotFound = 'model_not_found',
  NotFound = 'not_found',
  RequestTooLarge = 'request_too_large',
  UnsupportedMediaType = 'unsupported_media_type',
  /** The provider has no API key configured and the request brought none (X-Provider-Key). */
  ProviderKeyMissing = 'provider_key_missing',
  /** The caller did not authenticate (missing or wrong credentials for this API). */
  Unauthorized = 'unauthorized',
  /** A workflow definition failed validation (the message lists every problem). */
  InvalidWorkflow = 'invalid_workflow',
  /** The resource exists already (a workflow id taken). */
  Conflict = 'conflict',
}

export type ErrorCode = StreamErrorCode | RequestErrorCode;

export interface ErrorDetails {
  /** The request field at fault, OpenAI's `param`. */
  param?: string;
  /** Whether the same request may succeed if sent again. */
  retryable?: boolean;
  /** How long the caller should wait before retrying. */
  retryAfterMs?: number;
  /** The dead letter the failed completion was kept as (admin API: /admin/dead-letters/{id}). */
  deadLetterId?: string;
  cause?: unknown;
}

/**
 * Base of every module's error class. Domain code throws these, never HTTP exceptions; the protocol
 * filters decide the status code and the wire shape. Messages must be safe to show to a client.
 */
export class DomainError extends Error {
  readonly param?: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly deadLetterId?: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    details: ErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.param = details.param;
    this.retryable = details.retryable ?? false;
    this.retryAfterMs = details.retryAfterMs;
    this.deadLetterId = details.deadLetterId;
  }
}

/** Raised while building or running a completion (request errors and stream errors alike). */
export class CompletionError extends DomainError {}
