import type { ChatCompletionRequest, ChatMessage } from '../../../contract/chat-request';

/** Where OpenAI-compatible APIs differ in what they accept. */
export interface OpenAiDialect {
  /** OpenAI's reasoning models reject `max_tokens`; most compatible servers only know `max_tokens`. */
  maxTokensField: 'max_completion_tokens' | 'max_tokens';
  /** Whether the `developer` role is understood; otherwise it is sent as `system`. */
  developerRole: boolean;
  /** `effort`: OpenAI's `reasoning_effort`; `openrouter`: OpenRouter's `reasoning` object. */
  reasoning: 'effort' | 'openrouter';
}

/** Fields copied as they are when the client set them. */
const PASSTHROUGH = [
  'temperature',
  'top_p',
  'stop',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'user',
  'seed',
  'response_format',
  'presence_penalty',
  'frequency_penalty',
] as const satisfies ReadonlyArray<keyof ChatCompletionRequest>;

/**
 * The upstream body for an OpenAI-compatible API: the client's request with the upstream model name, usage
 * always requested on streams (the gateway counts tokens), and the dialect's reasoning and token-cap fields.
 */
export function toOpenAiBody(
  request: ChatCompletionRequest,
  upstreamModel: string,
  stream: boolean,
  dialect: OpenAiDialect,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: upstreamModel,
    messages: dialect.developerRole ? request.messages : request.messages.map(developerAsSystem),
  };
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  for (const field of PASSTHROUGH) {
    const value = request[field];
    if (value !== undefined) body[field] = value;
  }
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens !== undefined) body[dialect.maxTokensField] = maxTokens;
  const { reasoning, reasoning_effort: effort } = request;
  if (dialect.reasoning === 'openrouter') {
    const options = reasoning ?? (effort === undefined ? undefined : { effort });
    if (options !== undefined) body.reasoning = options;
  } else {
    const chosen = effort ?? (reasoning?.enabled === false ? 'none' : reasoning?.effort);
    if (chosen !== undefined) body.reasoning_effort = chosen;
  }
  return body;
}

function developerAsSystem(message: ChatMessage): ChatMessage {
  return message.role === 'developer' ? { ...message, role: 'system' } : message;
}
