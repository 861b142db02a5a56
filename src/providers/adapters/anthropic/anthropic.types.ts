/** The Anthropic Messages wire shapes (`POST /v1/messages`, `anthropic-version: 2023-06-01`). */

// ---- Request ----

export interface AnthropicTextBlock {
  type: 'text';
  text: string;
}

export type AnthropicImageSource =
  { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };

export interface AnthropicImageBlock {
  type: 'image';
  source: AnthropicImageSource;
}

export interface AnthropicToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface AnthropicToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string;
}

export type AnthropicRequestBlock =
  AnthropicTextBlock | AnthropicImageBlock | AnthropicToolUseBlock | AnthropicToolResultBlock;

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | AnthropicRequestBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  system?: string;
  messages: AnthropicMessage[];
  stream?: boolean;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: { type: 'enabled'; budget_tokens: number };
  metadata?: { user_id: string };
}

// ---- Response and stream ----

export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** A content block of a response, or as a stream's `content_block_start` announces it. */
export interface AnthropicResponseBlock {
  type?: string;
  /** text */
  text?: string;
  /** thinking */
  thinking?: string;
  signature?: string;
  /** tool_use */
  id?: string;
  name?: string;
  input?: unknown;
}

export interface AnthropicErrorObject {
  type?: string;
  message?: string;
}

/** A whole (non-streaming) response: a `message`, or an `error` body. */
export interface AnthropicResponse {
  id?: string;
  type?: string;
  role?: string;
  model?: string;
  content?: AnthropicResponseBlock[];
  stop_reason?: string | null;
  stop_sequence?: string | null;
  usage?: AnthropicUsage | null;
  error?: AnthropicErrorObject;
}

export interface AnthropicDelta {
  type?: string;
  /** text_delta */
  text?: string;
  /** thinking_delta */
  thinking?: string;
  /** input_json_delta */
  partial_json?: string;
  /** signature_delta */
  signature?: string;
  /** message_delta */
  stop_reason?: string | null;
  stop_sequence?: string | null;
}

/** One SSE event's data; `type` equals the SSE event name. */
export interface AnthropicStreamEvent {
  type?: string;
  /** message_start */
  message?: AnthropicResponse;
  /** content_block_start / _delta / _stop */
  index?: number;
  content_block?: AnthropicResponseBlock;
  /** content_block_delta, message_delta */
  delta?: AnthropicDelta;
  /** message_delta (cumulative) */
  usage?: AnthropicUsage | null;
  /** error */
  error?: AnthropicErrorObject;
}
