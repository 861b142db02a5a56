import type { FastifyReply, FastifyRequest } from 'fastify';
import { principalOf } from '../auth/auth.guard';
import { type AuthService, withStreamSlot } from '../auth/auth.service';
import { CompletionError, RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import type { WorkflowRuns } from '../workflow/workflow-runs.service';
import { workflowSseFrame } from '../workflow/workflow-views';
import type { SseResponder } from './sse/sse-responder.service';

/** Where an event stream resumes: `?after=<sequence>`, or an EventSource's Last-Event-ID. */
export function afterParam(request: FastifyRequest, query: string | undefined): { after?: number } {
  const header = request.headers['last-event-id'];
  const raw = query ?? (Array.isArray(header) ? header[0] : header);
  if (raw === undefined || raw === '') return {};
  return { after: sequenceOf(raw) };
}

/** A sequence number as sent in `?after=`; a 400 naming `after` unless it is a non-negative integer. */
export function sequenceOf(raw: string): number {
  if (!/^\d{1,15}$/.test(raw)) {
    throw new CompletionError(RequestErrorCode.InvalidRequest, "'after' must be a non-negative integer.", {
      param: 'after',
    });
  }
  return Number(raw);
}

/** How an SSE reader that fell too far behind is told (it may resume from its last id). */
export function slowReader(): Error {
  return new CompletionError(
    StreamErrorCode.ServiceUnavailable,
    'The stream fell too far behind and was ended; reconnect with Last-Event-ID to resume.',
    { retryable: true },
  );
}

/**
 * A run's or a definition's events as SSE for the caller (as they may see them), holding one of their stream
 * slots while it lasts. `endless`: a definition's stream, which never ends by itself.
 */
export async function followAsSse(
  edge: { runs: WorkflowRuns; sse: SseResponder; auth: AuthService },
  id: string,
  from: { after?: number },
  request: FastifyRequest,
  reply: FastifyReply,
  endless: boolean,
): Promise<void> {
  const viewer = principalOf(request);
  await withStreamSlot(edge.auth, viewer, request.id, async () => {
    const events = await edge.runs.follow(id, { ...from, overflow: slowReader, viewer });
    await edge.sse.events(events, workflowSseFrame, request, reply, { endless });
  });
}
