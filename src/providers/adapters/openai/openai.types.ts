/** The OpenAI Chat Completions wire shapes the adapter reads (as sent by OpenAI, OpenRouter, vLLM, Ollama /v1). */

export interface OpenAiUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

export interface OpenAiToolCallDelta {
  index?: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface OpenAiDelta {
  role?: string;
  content?: string | null;
  refusal?: string | null;
  /** OpenRouter / Ollama /v1 convention. */
  reasoning?: string | null;
  /** vLLM / DeepSeek convention. */
  reasoning_content?: string | null;
  tool_calls?: OpenAiToolCallDelta[] | null;
}

/** An error object, in an HTTP error body or inside a stream frame. OpenRouter's `code` is a number. */
export interface OpenAiErrorObject {
  message?: string;
  type?: string | null;
  code?: string | number | null;
  param?: string | null;
}

export interface OpenAiChunk {
  id?: string;
  object?: string;
  choices?: Array<{ index?: number; delta?: OpenAiDelta; finish_reason?: string | null }>;
  usage?: OpenAiUsage | null;
  error?: OpenAiErrorObject;
}

export interface OpenAiResponse {
  id?: string;
  choices?: Array<{
    index?: number;
    message?: {
      role?: string;
      content?: string | null;
      refusal?: string | null;
      reasoning?: string | null;
      reasoning_content?: string | null;
      tool_calls?: Array<{ id?: string; type?: string; function?: { name?: string; arguments?: string } }>;
    };
    finish_reason?: string | null;
  }>;
  usage?: OpenAiUsage | null;
  error?: OpenAiErrorObject;
}
