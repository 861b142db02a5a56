/**
 * The OpenAI Chat Completions request, as accepted at every edge and passed to routing and providers.
 * Field names follow the OpenAI wire format so that OpenAI-compatible providers need no translation.
 */

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface TextContentPart {
  type: 'text';
  text: string;
}

export interface ImageContentPart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

export interface AudioContentPart {
  type: 'input_audio';
  input_audio: { data: string; format: string };
}

export interface FileContentPart {
  type: 'file';
  file: { file_id?: string; file_data?: string; filename?: string };
}

export type ContentPart = TextContentPart | ImageContentPart | AudioContentPart | FileContentPart;

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: ChatRole;
  content: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
}

export type JsonSchema = Record<string, unknown>;

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: JsonSchema; strict?: boolean };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high';

/** OpenRouter's unified reasoning option. */
export interface ReasoningOptions {
  effort?: ReasoningEffort;
  max_tokens?: number;
  exclude?: boolean;
  enabled?: boolean;
}

export interface ResponseFormat {
  type: 'text' | 'json_object' | 'json_schema';
  json_schema?: Record<string, unknown>;
}

/** OpenRouter-style provider preferences: which providers may serve the request, and in what order. */
export interface ProviderPreferences {
  /** Provider ids to try first, in this order. */
  order?: string[];
  /** false: only the providers named in `order` (default true: the rest of the chain follows). */
  allow_fallbacks?: boolean;
  /** Only these provider ids. */
  only?: string[];
  /** Never these provider ids. */
  ignore?: string[];
  /** Reorder the chain by estimated price or by measured latency. */
  sort?: 'price' | 'latency';
}

export interface ChatCompletionRequest {
  model: string;
  /** Fallback models, tried in order when the earlier ones fail before their first token (OpenRouter). */
  models?: string[];
  provider?: ProviderPreferences;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  tools?: ChatTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  n?: number;
  user?: string;
  seed?: number;
  response_format?: ResponseFormat;
  presence_penalty?: number;
  frequency_penalty?: number;
  reasoning_effort?: ReasoningEffort;
  reasoning?: ReasoningOptions;
  metadata?: Record<string, string>;
}

/** The plain text of a message's content (text parts joined), ignoring non-text parts. */
export function messageText(message: ChatMessage): string {
  const { content } = message;
  if (content === null) return '';
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of content) if (part.type === 'text') text += part.text;
  return text;
}

/** The completion-token cap of a request (`max_completion_tokens` wins over the legacy `max_tokens`). */
export function maxOutputTokens(request: ChatCompletionRequest): number | undefined {
  return request.max_completion_tokens ?? request.max_tokens;
}

/** Whether the request asks for reasoning/thinking output (OpenAI `reasoning_effort` or OpenRouter `reasoning`). */
export function wantsReasoning(request: ChatCompletionRequest): boolean {
  const { reasoning, reasoning_effort: effort } = request;
  if (reasoning) {
    if (reasoning.enabled === false || reasoning.effort === 'none') return false;
    return true;
  }
  return effort !== undefined && effort !== 'none';
}
