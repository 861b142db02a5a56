import type { ModelConfig, ProviderType } from '../config/app-config';
import type { ChatCompletionRequest } from '../contract/chat-request';
import type { StreamEvent } from '../contract/stream-event';

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
  /** A key the caller brought for this request (X-Provider-Key); wins over the configured one. */
  apiKey?: string;
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
  /** It can serve with what config gave it (a key, a base URL). Unconfigured providers' models are not listed. */
  readonly configured: boolean;
  /** The base URL it calls (no credentials, no query), for the boot log; undefined when it calls none. */
  readonly endpoint?: string;
  /** Why a request bringing `apiKey` (or none) cannot be served, in words for the client; undefined when it can. */
  missingCredentials(apiKey: string | undefined): string | undefined;
  /** Boot-time check of a catalogue entry that names this provider; returns problems, empty when fine. */
  checkModel(model: ModelConfig): string[];
  stream(request: ProviderStreamRequest): AsyncIterable<StreamEvent>;
  /** Providers that can list their models (Ollama's /api/tags) return them as catalogue entries. */
  discoverModels?(signal: AbortSignal): Promise<ModelConfig[]>;
  /** Releases connections; called once at shutdown. */
  close?(): Promise<void>;
}
