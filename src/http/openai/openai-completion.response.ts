import type { ChatToolCall } from '../../contract/chat-request';
import type { CompletionResult } from '../../streaming/completion.service';
import type { FinishReason } from '../../contract/stream-event';
import type { CompletionSummary } from '../../streaming/hub/completion-state';
import { httpMappingFor, openAiErrorBody } from '../../common/errors/openai-error';
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
  const message = assistantMessage(result);
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

/**
 * A completion's state (GET /v1/chat/completions/{id}): the `chat.completion` object with a `status`; once it
 * ended with an answer, its choices and usage; a failed or cancelled one carries its `error` (OpenAI's shape)
 * and what it had produced.
 */
export function toCompletionState(summary: CompletionSummary): Record<string, unknown> {
  const base = {
    id: summary.completionId,
    object: 'chat.completion',
    created: summary.created,
    model: summary.model,
    provider: summary.provider,
    status: summary.status,
    node: summary.node,
    ...(summary.finishedAt ? { finished_at: summary.finishedAt } : {}),
  };
  if (summary.status === 'running') return base;
  const message = assistantMessage(summary);
  const out: Record<string, unknown> = {
    ...base,
    system_fingerprint: null,
    choices: [{ index: 0, message, logprobs: null, finish_reason: summary.finishReason ?? null }],
    usage: summary.usage ? toOpenAiUsage(summary.usage) : null,
  };
  if (summary.truncated) out.truncated = true;
  if (summary.splices) out.splices = summary.splices;
  if (summary.error) {
    const { type } = httpMappingFor(summary.error.code);
    out.error = openAiErrorBody(summary.error.code, summary.error.message, type, summary.error.param).error;
  }
  return out;
}

type AssistantMessage = OpenAiChatCompletion['choices'][number]['message'];

/** An answer as the assistant message of a `chat.completion`. */
function assistantMessage(
  output: Pick<CompletionResult, 'content' | 'reasoning' | 'toolCalls'>,
): AssistantMessage {
  const message: AssistantMessage = { role: 'assistant', content: output.content, refusal: null };
  if (output.reasoning !== null) message.reasoning = output.reasoning;
  if (output.toolCalls.length > 0) message.tool_calls = output.toolCalls;
  return message;
}
