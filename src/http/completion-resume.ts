import type { FastifyRequest } from 'fastify';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { sequenceOf } from './workflow-events.params';

/** Where a completion's follower resumes: its completion (when the id says) and the last event it received. */
export interface ResumePoint {
  completionId?: string;
  after: number;
}

const LAST_EVENT_ID = /^(?:(chatcmpl-[A-Za-z0-9]{1,64}):)?(\d{1,15})$/;

/**
 * `?after=<seq>`, or the Last-Event-ID header (`<completionId>:<seq>`, as every frame's `id:`, or a bare
 * `<seq>`); undefined when neither is there. A malformed one is a 400 naming it.
 */
export function resumePointOf(request: FastifyRequest, after: string | undefined): ResumePoint | undefined {
  if (after !== undefined && after !== '') return { after: sequenceOf(after) };
  const header = request.headers['last-event-id'];
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || raw === '') return undefined;
  const match = LAST_EVENT_ID.exec(raw.trim());
  if (!match) {
    throw invalid(
      'Last-Event-ID',
      "Last-Event-ID must be '<completionId>:<sequence>' (as sent in each frame's id) or a sequence number.",
    );
  }
  return match[1] === undefined
    ? { after: Number(match[2]) }
    : { completionId: match[1], after: Number(match[2]) };
}

function invalid(param: string, message: string): CompletionError {
  return new CompletionError(RequestErrorCode.InvalidRequest, message, { param });
}
