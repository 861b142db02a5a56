import { type StreamErrorCode } from './error-code';

/**
 * The one internal event type. Providers produce it, edges serialize it. Every stream ends with exactly one
 * `completed` or one `error` event.
 */

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Part of completionTokens spent on reasoning, when the provider reports it. */
  reasoningTokens?: number;
}

export interface ContentChunkEvent {
  type: 'content_chunk';
  completionId: string;
  content: string;
  index: number;
}

export interface ThinkingEvent {
  type: 'thinking';
  completionId: string;
  content: string;
}

/** A tool call delta. `toolCallId` and `name` are repeated on every delta of the same `index`. */
export interface ToolCallEvent {
  type: 'tool_call';
  completionId: string;
  index: number;
  toolCallId: string;
  name: string;
  argumentsDelta: string;
}

export interface ToolResultEvent {
  type: 'tool_result';
  completionId: string;
  toolCallId: string;
  content: string;
}

/** Where a stream continued on another provider after a failure past its first token. */
export interface Splice {
  /** Characters of content sent before the failure. */
  at: number;
  /** The model whose stream failed. */
  from: string;
  reason: StreamErrorCode;
}

export interface CompletedEvent {
  type: 'completed';
  completionId: string;
  finishReason: FinishReason;
  /** The last provider's usage (a spliced stream's earlier providers report none). */
  usage: Usage;
  /** Present when the stream was continued on another provider (`continue_after_failure`). */
  splices?: Splice[];
}

export interface StreamError {
  code: StreamErrorCode;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  /** The request field at fault, when the error is about the request (OpenAI's `param`). */
  param?: string;
  /** The dead letter this failure was kept as (durable before the event is emitted). */
  deadLetterId?: string;
}

export interface ErrorEvent {
  type: 'error';
  completionId: string;
  error: StreamError;
}

export type StreamEvent =
  ContentChunkEvent | ThinkingEvent | ToolCallEvent | ToolResultEvent | CompletedEvent | ErrorEvent;

export type TerminalEvent = CompletedEvent | ErrorEvent;

export function isTerminal(event: StreamEvent): event is TerminalEvent {
  return event.type === 'completed' || event.type === 'error';
}
