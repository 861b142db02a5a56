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

/**
 * A completion's summary folded from its events as they come (so the events need not stay in memory for it),
 * holding at most `limit` characters of output.
 */
export class SummaryFold {
  private readonly builder = new ResultBuilder();
  private truncated = false;
  private finishReason?: FinishReason;
  private usage?: Usage;
  private splices?: Splice[];
  private error?: StreamError;

  constructor(private readonly limit: number) {}

  add(event: StreamEvent): void {
    if (event.type === 'completed') {
      this.finishReason = event.finishReason;
      this.usage = event.usage;
      if (event.splices) this.splices = event.splices;
    } else if (event.type === 'error') {
      this.error = event.error;
    } else if (!this.truncated) {
      this.builder.add(event);
      if (this.builder.held > this.limit) this.truncated = true;
    }
  }

  /** The summary of the completion once it ended (`running` counts its events, the terminal one included). */
  finished(running: CompletionSummary, served: { model: string; provider: string }): CompletionSummary {
    const done: CompletionSummary = {
      ...running,
      model: served.model,
      provider: served.provider,
      finishedAt: new Date().toISOString(),
      status: 'completed',
    };
    if (this.truncated) done.truncated = true;
    if (this.finishReason !== undefined) done.finishReason = this.finishReason;
    if (this.usage) done.usage = this.usage;
    if (this.splices) done.splices = this.splices;
    if (this.error) {
      done.status = this.error.code === StreamErrorCode.Cancelled ? 'cancelled' : 'failed';
      done.error = this.error;
    }
    return { ...done, ...this.builder.output() };
  }
}
