import type { ChatToolCall } from '../../contract/chat-request';
import type { CompletionResult } from '../../streaming/completion.service';
import type { FinishReason } from '../../contract/stream-event';
import { type OpenAiUsage, toOpenAiUsage } from './openai-chunk.serializer';

export interface OpenAiChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  provider: string;
  system_fingerprint: null;
  choices: Array<{
    index: number;
    message: {
      role: 'assistant';
      content: string | null;
      refusal: null;
      reasoning?: string;
      tool_calls?: ChatToolCall[];
    };
    logprobs: null;
    finish_reason: FinishReason;
  }>;
  usage: OpenAiUsage;
}

/** CompletionResult -> OpenAI `chat.completion` (reasoning in `message.reasoning`, as OpenRouter does). */
export function toChatCompletion(result: CompletionResult): OpenAiChatCompletion {
  const message: OpenAiChatCompletion['choices'][number]['message'] = {
    role: 'assistant',
    content: result.content,
    refusal: null,
  };
  if (result.reasoning !== null) message.reasoning = result.reasoning;
  if (result.toolCalls.length > 0) message.tool_calls = result.toolCalls;
  return {
    id: result.completionId,
    object: 'chat.completion',
    created: result.created,
    model: result.model,
    provider: result.provider,
    system_fingerprint: null,
    choices: [{ index: 0, message, logprobs: null, finish_reason: result.finishReason }],
    usage: toOpenAiUsage(result.usage),
  };
}
