import { DomainError, type ErrorDetails, type StreamErrorCode } from '../contract/error-code';

export interface ProviderErrorDetails extends ErrorDetails {
  /** The upstream HTTP status, when the failure came with one. */
  status?: number;
  /** The vendor's own error type (`overloaded_error`, `RESOURCE_EXHAUSTED`...), for metrics and routing. */
  vendorType?: string;
}

/** A failure talking to (or inside) a provider, classified into a stream error kind. */
export class ProviderError extends DomainError {
  readonly status?: number;
  readonly vendorType?: string;

  constructor(
    override readonly code: StreamErrorCode,
    message: string,
    readonly provider: string,
    details: ProviderErrorDetails = {},
  ) {
    super(code, message, details);
    this.status = details.status;
    this.vendorType = details.vendorType;
  }
}
