/** The Ollama native API wire shapes (`POST /api/chat`, `GET /api/tags`) the adapter writes and reads. */

import type { ChatTool, JsonSchema } from '../../../contract/chat-request';

export type OllamaRole = 'system' | 'user' | 'assistant' | 'tool';

/** A tool call as sent back to Ollama in an assistant message: arguments are an OBJECT, not a JSON string. */
export interface OllamaToolCallRequest {
  function: { name: string; arguments: Record<string, unknown> };
}

export interface OllamaMessage {
  role: OllamaRole;
  content: string;
  /** Base64 payloads only (no `data:` prefix); Ollama takes no image URLs. */
  images?: string[];
  tool_calls?: OllamaToolCallRequest[];
  /** On `tool` messages: the function whose result this is. */
  tool_name?: string;
}

/** Runtime options; only the ones the OpenAI request can set. */
export interface OllamaOptions {
  temperature?: number;
  top_p?: number;
  /** The completion-token cap. */
  num_predict?: number;
  stop?: string[];
  seed?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
}

export interface OllamaChatRequest {
  model: string;
  messages: OllamaMessage[];
  /** Always explicit: Ollama streams when it is absent. */
  stream: boolean;
  /** OpenAI's tool format is Ollama's. */
  tools?: ChatTool[];
  options?: OllamaOptions;
  think?: boolean;
  /** `json` for any JSON object, or a JSON schema the answer must follow. */
  format?: 'json' | JsonSchema;
}

/** A tool call as Ollama sends it. Newer versions add an `id` and `function.index`. */
export interface OllamaToolCallWire {
  id?: string;
  function?: { index?: number; name?: string; arguments?: unknown };
}

/** One NDJSON line of `/api/chat` (or the whole non-streaming answer, with `done: true`). */
export interface OllamaChatChunk {
  model?: string;
  created_at?: string;
  message?: {
    role?: string;
    content?: string;
    thinking?: string;
    tool_calls?: OllamaToolCallWire[] | null;
  };
  done?: boolean;
  /** `stop`, `length`, `load`, `unload`. */
  done_reason?: string;
  /** Durations are in nanoseconds. */
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
  /** A failure, as an HTTP error body or as a line in a 200 stream. */
  error?: unknown;
}

/** One entry of `GET /api/tags`. */
export interface OllamaTag {
  name?: unknown;
  model?: unknown;
  modified_at?: string;
  size?: number;
  digest?: string;
  details?: { family?: string; parameter_size?: string; quantization_level?: string };
}

export interface OllamaTagsResponse {
  models?: unknown;
}
