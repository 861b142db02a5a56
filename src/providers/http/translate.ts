import { type ChatCompletionRequest, type ChatMessage, messageText } from '../../contract/chat-request';
import type { CompletedEvent, FinishReason, Usage } from '../../contract/stream-event';

/** Helpers shared by the vendor translators. */

export function usage(prompt: number, completion: number, total?: number, reasoning?: number): Usage {
  const out: Usage = {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: total ?? prompt + completion,
  };
  if (reasoning !== undefined && reasoning > 0) out.reasoningTokens = reasoning;
  return out;
}

export const NO_USAGE: Readonly<Usage> = Object.freeze({
  promptTokens: 0,
  completionTokens: 0,
  totalTokens: 0,
});

export function completed(completionId: string, finishReason: FinishReason, used: Usage): CompletedEvent {
  return { type: 'completed', completionId, finishReason, usage: used };
}

/** A tool-call id for vendors that send none (Gemini, Ollama): unique per completion and index. */
export function syntheticToolCallId(completionId: string, index: number): string {
  return `call_${completionId.slice(-16)}_${index}`;
}

/** The system and developer messages' text, joined, for vendors that take the system prompt apart. */
export function systemText(messages: readonly ChatMessage[]): string | undefined {
  const parts = messages
    .filter((m) => m.role === 'system' || m.role === 'developer')
    .map(messageText)
    .filter((t) => t !== '');
  return parts.length === 0 ? undefined : parts.join('\n\n');
}

/** A `data:` URL split into its media type and base64 payload, or undefined for other URLs. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([\w.+-]+\/[\w.+-]+)?(?:;[\w=.+-]+)*;base64,(.*)$/s.exec(url);
  if (!match) return undefined;
  return { mediaType: match[1] ?? 'application/octet-stream', data: match[2] ?? '' };
}

/** The stop sequences of a request as a list. */
export function stopList(request: ChatCompletionRequest): string[] | undefined {
  const { stop } = request;
  if (stop === undefined) return undefined;
  return typeof stop === 'string' ? [stop] : stop;
}

/** A tool call's JSON arguments as an object (vendors other than OpenAI take objects). */
export function parseArguments(args: string): Record<string, unknown> | undefined {
  if (args.trim() === '') return {};
  try {
    const value = JSON.parse(args) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A reasoning budget in tokens for a request that wants reasoning, from its explicit budget or effort. */
export function reasoningBudget(request: ChatCompletionRequest, fallback: number): number | undefined {
  const { reasoning, reasoning_effort: effort } = request;
  if (reasoning?.enabled === false) return undefined;
  if (reasoning?.max_tokens !== undefined) return reasoning.max_tokens;
  const level = reasoning?.effort ?? effort;
  if (level === undefined) return reasoning ? fallback : undefined;
  return EFFORT_BUDGETS[level];
}

const EFFORT_BUDGETS: Record<string, number | undefined> = {
  none: undefined,
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 24576,
};
