import { DomainError, type ErrorDetails, type StreamErrorCode } from '../common/errors/error-code';

/** A failure talking to (or inside) a provider, classified into a stream error kind. */
export class ProviderError extends DomainError {
  constructor(
    override readonly code: StreamErrorCode,
    message: string,
    readonly provider: string,
    details: ErrorDetails = {},
  ) {
    super(code, message, details);
  }
}
