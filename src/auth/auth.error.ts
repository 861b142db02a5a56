import { DomainError, type ErrorDetails, RequestErrorCode, StreamErrorCode } from '../contract/error-code';

/**
 * The codes auth raises: all exist in the shared enums already, so every protocol filter maps them
 * (401, 403, 429 + Retry-After; 503 while the signing keys of `auth.jwt.jwks_url` have never been fetched).
 */
export type AuthErrorCode =
  | RequestErrorCode.Unauthorized
  | StreamErrorCode.Forbidden
  | StreamErrorCode.RateLimitExceeded
  | StreamErrorCode.ServiceUnavailable;

/**
 * Raised by token verification, permission checks and rate limiting. Messages are shown to clients: they never
 * carry the token, a key or the secret.
 */
export class AuthError extends DomainError {
  declare readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string, details?: ErrorDetails) {
    super(code, message, details);
  }

  static unauthorized(message: string): AuthError {
    return new AuthError(RequestErrorCode.Unauthorized, message);
  }

  static forbidden(message: string): AuthError {
    return new AuthError(StreamErrorCode.Forbidden, message);
  }

  static rateLimited(message: string, retryAfterMs: number): AuthError {
    return new AuthError(StreamErrorCode.RateLimitExceeded, message, { retryAfterMs, retryable: true });
  }
}
