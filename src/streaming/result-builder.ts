import type { ChatToolCall } from '../contract/chat-request';
import type { StreamEvent } from '../contract/stream-event';

export interface AggregatedOutput {
  /** null when the answer is only tool calls. */
  content: string | null;
  reasoning: string | null;
  toolCalls: ChatToolCall[];
}

/** Folds a completion's deltas into its whole answer (non-streaming responses, GraphQL results). */
export class ResultBuilder {
  private content = '';
  private reasoning = '';
  private readonly calls: ChatToolCall[] = [];
  /** Characters held so far, for the per-stream memory bound. */
  held = 0;

  add(event: StreamEvent): void {
    switch (event.type) {
      case 'content_chunk':
        this.content += event.content;
        this.held += event.content.length;
        return;
      case 'thinking':
        this.reasoning += event.content;
        this.held += event.content.length;
        return;
      case 'tool_call': {
        const call = (this.calls[event.index] ??= {
          id: event.toolCallId,
          type: 'function',
          function: { name: event.name, arguments: '' },
        });
        call.function.arguments += event.argumentsDelta;
        this.held += event.argumentsDelta.length;
        return;
      }
      case 'tool_result':
      case 'completed':
      case 'error':
        return;
    }
  }

  output(): AggregatedOutput {
    const toolCalls = this.calls.filter(Boolean);
    return {
      content: this.content === '' && toolCalls.length > 0 ? null : this.content,
      reasoning: this.reasoning === '' ? null : this.reasoning,
      toolCalls,
    };
  }
}
