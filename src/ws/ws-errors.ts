import { DomainError, StreamErrorCode } from '../contract/error-code';
import type { StreamError } from '../contract/stream-event';
import {
  CLOSE_FORBIDDEN,
  CLOSE_SLOW_CONSUMER,
  CLOSE_TRY_AGAIN_LATER,
  CLOSE_UNAUTHORIZED,
  type CompletionSubject,
  type ErrorMessage,
  type MuxError,
  MuxErrorCode,
  MuxMessageError,
} from './mux-messages';

/**
 * The one error mapper of `/ws/stream`: every `error` message the protocol sends, and every close that follows
 * one, is built here (the multiplexer's and the authentication's alike), so a code, a field or a close code
 * reads the same wherever it comes from.
 */

/**
 * What an `error` message is about: a completion (the client's `id` for its own, the server's `completionId`
 * once there is one), a followed workflow, or (none) the connection.
 */
export interface ErrorSubject {
  id?: string;
  completionId?: string;
  seq?: number;
  workflowId?: string;
}

export interface ErrorOptions {
  /** The field at fault, over the error's own (a refused follow names `workflowId` or `streams`). */
  param?: string;
  /** The message of an error that is not the app's own (its details stay in the log). */
  fallback?: string;
}

/** What an unexpected error says when the caller does not say otherwise. */
const UNEXPECTED = 'The completion failed unexpectedly.';

/**
 * `err` as an `error` message about `subject`: a protocol refusal (MuxMessageError, naming the client's id of
 * the completion it was about when the subject does not), a DomainError with its details (param, retryAfterMs, deadLetterId), or
 * anything else as internal_error.
 */
export function errorMessage(
  err: unknown,
  subject: ErrorSubject = {},
  options: ErrorOptions = {},
): ErrorMessage {
  const refused = err instanceof MuxMessageError ? err.id : undefined;
  const error = muxErrorOf(err, options.fallback ?? UNEXPECTED);
  return message(
    subject.id === undefined && refused !== undefined ? { ...subject, id: refused } : subject,
    options.param === undefined ? error : { ...error, param: options.param },
  );
}

/** A completion's own `error` event (its last) as the protocol's message. */
export function streamErrorMessage(subject: CompletionSubject, error: StreamError): ErrorMessage {
  return message(subject, fieldsOf(error));
}

/** An error that ends the connection: the `error` message that says why, then the close code and reason. */
export interface Closing {
  readonly message: ErrorMessage;
  readonly code: number;
  readonly reason: string;
}

/** Over `max_connections`. */
export const TOO_MANY_CONNECTIONS: Closing = {
  message: message(
    {},
    { code: MuxErrorCode.TooManyConnections, message: 'Too many connections; retry shortly.' },
  ),
  code: CLOSE_TRY_AGAIN_LATER,
  reason: 'too many connections',
};

/** The peer's send buffer passed the hard limit. */
export const SLOW_CONSUMER: Closing = {
  message: message(
    {},
    { code: MuxErrorCode.SlowConsumer, message: 'The connection fell too far behind; closing it.' },
  ),
  code: CLOSE_SLOW_CONSUMER,
  reason: 'slow consumer',
};

/** Authentication refused (`err`): 4403 for a refusal (forbidden), 4401 for anything about credentials. */
export function deniedBy(err: unknown): Closing {
  const forbidden = err instanceof DomainError && err.code === StreamErrorCode.Forbidden;
  const text = err instanceof DomainError ? err.message : 'Authentication failed.';
  return {
    message: message(
      {},
      { code: forbidden ? MuxErrorCode.Forbidden : MuxErrorCode.Unauthorized, message: text },
    ),
    code: forbidden ? CLOSE_FORBIDDEN : CLOSE_UNAUTHORIZED,
    // A close reason is at most 123 bytes.
    reason: text.slice(0, 120),
  };
}

/** Sends the closing's `error` message, then closes with its code (what the peer reads before the close frame). */
export function closeWith(
  peer: { send(text: string): void; close(code: number, reason: string): void },
  closing: Closing,
): void {
  peer.send(JSON.stringify(closing.message));
  peer.close(closing.code, closing.reason);
}

/** The error a followed stream ends with when the connection cannot keep up with it. */
export function streamOverflow(): MuxMessageError {
  return new MuxMessageError(
    MuxErrorCode.SlowConsumer,
    'The connection fell too far behind this stream; it was ended (resume with afterSequence).',
  );
}

function muxErrorOf(err: unknown, fallback: string): MuxError {
  if (err instanceof MuxMessageError) {
    const error: MuxError = { code: err.code, message: err.message };
    if (err.param !== undefined) error.param = err.param;
    return error;
  }
  if (err instanceof DomainError) return fieldsOf(err);
  return { code: 'internal_error', message: fallback };
}

/** The protocol's fields of an app error (a DomainError, a stream's error event), in the wire's order. */
function fieldsOf(
  source: Pick<StreamError, 'message' | 'param' | 'retryAfterMs' | 'deadLetterId'> & { code: string },
): MuxError {
  const error: MuxError = { code: source.code, message: source.message };
  if (source.param !== undefined) error.param = source.param;
  if (source.retryAfterMs !== undefined) error.retryAfterMs = source.retryAfterMs;
  if (source.deadLetterId !== undefined) error.deadLetterId = source.deadLetterId;
  return error;
}

function message(subject: ErrorSubject, error: MuxError): ErrorMessage {
  return {
    type: 'error',
    ...(subject.id === undefined ? {} : { id: subject.id }),
    ...(subject.completionId === undefined ? {} : { completionId: subject.completionId }),
    ...(subject.seq === undefined ? {} : { seq: subject.seq }),
    ...(subject.workflowId === undefined ? {} : { workflowId: subject.workflowId }),
    error,
  };
}
