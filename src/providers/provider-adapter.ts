import type { ModelConfig, ProviderType } from '../config/app-config';
import type { ChatCompletionRequest } from '../streaming/chat-request';
import type { StreamEvent } from '../streaming/stream-event';

/** How an adapter's upstream frames its stream (`none` for in-process providers). */
export type Framing = 'sse' | 'ndjson' | 'none';

export interface ProviderStreamRequest {
  /** The gateway's id for this completion; every event the adapter yields carries it. */
  completionId: string;
  /** The catalogue entry that was routed to: upstream model name and adapter options. */
  model: ModelConfig;
  body: ChatCompletionRequest;
  /** Aborted when the client goes away, the request is cancelled, or the node drains. */
  signal: AbortSignal;
}

/**
 * One vendor behind one interface. An adapter turns a request into typed StreamEvents and never emits wire
 * strings. It ends its stream with `completed`, or throws a ProviderError (or yields an `error` event);
 * it stops promptly when `signal` aborts.
 */
export interface ProviderAdapter {
  /** The provider instance id from config (`providers.<id>`). */
  readonly id: string;
  readonly type: ProviderType;
  readonly framing: Framing;
  /** Boot-time check of a catalogue entry that names this provider; returns problems, empty when fine. */
  checkModel(model: ModelConfig): string[];
  stream(request: ProviderStreamRequest): AsyncIterable<StreamEvent>;
}
