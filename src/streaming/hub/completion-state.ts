import type { Protocol } from '../../analytics/metrics.service';
import type { ChatToolCall } from '../../contract/chat-request';
import type { FinishReason, Splice, StreamError, StreamEvent, Usage } from '../../contract/stream-event';
import { StreamErrorCode } from '../../contract/error-code';
import { ResultBuilder } from '../result-builder';

export type CompletionStatus = 'running' | 'completed' | 'failed' | 'cancelled';

/** A completion's state in the hub's registry, readable from any node (and kept `event_bus.retention` after it ends). */
export interface CompletionSummary {
  completionId: string;
  status: CompletionStatus;
  /** The model and provider serving it (the first planned until it commits, then the one that answered). */
  model: string;
  provider: string;
  /** The user who started it (absent while auth is off); users with resource scope `own` see only theirs. */
  owner?: string;
  /** The edge that started it. */
  protocol: Protocol;
  /** The node that runs it. */
  node: string;
  /** Unix seconds, as on every chunk. */
  created: number;
  /** ISO 8601. */
  createdAt: string;
  finishedAt?: string;
  /** Events so far (the terminal one included once it ended). */
  events?: number;
  content: string | null;
  reasoning: string | null;
  toolCalls: ChatToolCall[];
  /** The output outgrew `max_memory_per_stream`: the summary holds its beginning; the events hold all of it. */
  truncated?: boolean;
  finishReason?: FinishReason;
  usage?: Usage;
  splices?: Splice[];
  error?: StreamError;
}

/** The summary of a completion that ended, folded from its events (at most `limit` characters of output). */
export function finishedSummary(
  running: CompletionSummary,
  events: readonly StreamEvent[],
  served: { model: string; provider: string },
  limit: number,
): CompletionSummary {
  const builder = new ResultBuilder();
  const done: CompletionSummary = {
    ...running,
    model: served.model,
    provider: served.provider,
    finishedAt: new Date().toISOString(),
    events: events.length,
    status: 'completed',
  };
  for (const event of events) {
    if (event.type === 'completed') {
      done.finishReason = event.finishReason;
      done.usage = event.usage;
      if (event.splices) done.splices = event.splices;
    } else if (event.type === 'error') {
      done.status = event.error.code === StreamErrorCode.Cancelled ? 'cancelled' : 'failed';
      done.error = event.error;
    } else if (!done.truncated) {
      builder.add(event);
      if (builder.held > limit) done.truncated = true;
    }
  }
  return { ...done, ...builder.output() };
}
