import type { FinishReason, StreamEvent } from '../../contract/stream-event';

/** Builders of the StreamEvents of one completion, for the expectations of parser and adapter specs. */
export function eventsOf(completionId: string) {
  return {
    text: (content: string, index = 0): StreamEvent => ({
      type: 'content_chunk',
      completionId,
      content,
      index,
    }),
    thinking: (content: string): StreamEvent => ({ type: 'thinking', completionId, content }),
    tool: (index: number, toolCallId: string, name: string, argumentsDelta: string): StreamEvent => ({
      type: 'tool_call',
      completionId,
      index,
      toolCallId,
      name,
      argumentsDelta,
    }),
    /** `completed` with its usage; reasoning tokens only when given. */
    done: (
      finishReason: FinishReason,
      promptTokens: number,
      completionTokens: number,
      totalTokens: number,
      reasoningTokens?: number,
    ): StreamEvent => ({
      type: 'completed',
      completionId,
      finishReason,
      usage: {
        promptTokens,
        completionTokens,
        totalTokens,
        ...(reasoningTokens === undefined ? {} : { reasoningTokens }),
      },
    }),
  };
}
