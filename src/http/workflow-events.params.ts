import type { FastifyRequest } from 'fastify';
import { CompletionError, RequestErrorCode, StreamErrorCode } from '../common/errors/error-code';

/** Where an event stream resumes: `?after=<sequence>`, or an EventSource's Last-Event-ID. */
export function afterParam(request: FastifyRequest, query: string | undefined): { after?: number } {
  const header = request.headers['last-event-id'];
  const raw = query ?? (Array.isArray(header) ? header[0] : header);
  if (raw === undefined || raw === '') return {};
  if (!/^\d{1,15}$/.test(raw)) {
    throw new CompletionError(RequestErrorCode.InvalidRequest, "'after' must be a non-negative integer.", {
      param: 'after',
    });
  }
  return { after: Number(raw) };
}

/** How an SSE reader that fell too far behind is told (it may resume from its last id). */
export function slowReader(): Error {
  return new CompletionError(
    StreamErrorCode.ServiceUnavailable,
    'The stream fell too far behind and was ended; reconnect with Last-Event-ID to resume.',
    { retryable: true },
  );
}
