import type { FinishReason, StreamEvent, Usage } from '../../../contract/stream-event';
import { parseFrame } from '../../http/http-provider.adapter';
import { type ParseContext, type VendorStreamParser } from '../../http/vendor-codec';
import {
  endedEarly,
  invalidResponse,
  streamFrameError,
  type VendorErrorInfo,
} from '../../http/upstream-errors';
import { completed, NO_USAGE, syntheticToolCallId, usage } from '../../http/translate';
import { ProviderError } from '../../provider.error';
import { StreamErrorCode } from '../../../contract/error-code';
import type { OpenAiChunk, OpenAiErrorObject, OpenAiResponse, OpenAiUsage } from './openai.types';

const FINISH: Record<string, FinishReason> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  content_filter: 'content_filter',
  function_call: 'function_call',
};

/** A vendor finish reason as OpenAI's; unknown values (`eos`, `end_turn`) are a normal stop. */
export function openAiFinish(reason: string): FinishReason {
  return FINISH[reason] ?? 'stop';
}

export function openAiUsage(raw: OpenAiUsage): Usage {
  const prompt = raw.prompt_tokens ?? 0;
  const completion = raw.completion_tokens ?? 0;
  return usage(prompt, completion, raw.total_tokens, raw.completion_tokens_details?.reasoning_tokens);
}

/** What an OpenAI-style error object says; OpenRouter puts an HTTP status in a numeric `code`. */
export function openAiErrorInfo(error: OpenAiErrorObject | undefined): VendorErrorInfo & { status?: number } {
  if (!error) return {};
  const code = error.code;
  return {
    message: typeof error.message === 'string' ? error.message : undefined,
    type: typeof code === 'string' && code !== '' ? code : (error.type ?? undefined),
    status: typeof code === 'number' ? code : undefined,
  };
}

interface ToolState {
  id: string;
  name: string;
}

/**
 * OpenAI chat.completion.chunk frames -> StreamEvents. Tool calls are tracked by index, since only a call's
 * first delta carries its id and name; the turn completes on `[DONE]` (or, leniently, on a clean end after a
 * finish_reason).
 */
export class OpenAiStreamParser implements VendorStreamParser {
  finished = false;
  private finishReason: FinishReason | undefined;
  private usage: Usage | undefined;
  private readonly tools: ToolState[] = [];

  constructor(private readonly ctx: ParseContext) {}

  frame(_event: string, data: string, out: StreamEvent[]): void {
    if (data === '[DONE]') {
      this.finish(out);
      return;
    }
    const chunk = parseFrame<OpenAiChunk>(data, this.ctx.provider);
    if (typeof chunk !== 'object' || chunk === null) {
      throw invalidResponse(this.ctx.provider, 'a stream frame is not a JSON object');
    }
    if (chunk.error) {
      const { status, ...info } = openAiErrorInfo(chunk.error);
      throw streamFrameError(this.ctx.provider, info, this.ctx.secrets, status);
    }
    if (chunk.usage) this.usage = openAiUsage(chunk.usage);
    const choice = chunk.choices?.[0];
    if (!choice) return;
    const { completionId } = this.ctx;
    const delta = choice.delta;
    if (delta) {
      const reasoning = delta.reasoning ?? delta.reasoning_content;
      if (reasoning) out.push({ type: 'thinking', completionId, content: reasoning });
      if (delta.content) out.push({ type: 'content_chunk', completionId, content: delta.content, index: 0 });
      if (delta.refusal) out.push({ type: 'content_chunk', completionId, content: delta.refusal, index: 0 });
      if (delta.tool_calls) {
        for (const call of delta.tool_calls) {
          const index = call.index ?? 0;
          let state = this.tools[index];
          if (!state) {
            state = {
              id: call.id ?? syntheticToolCallId(completionId, index),
              name: call.function?.name ?? '',
            };
            this.tools[index] = state;
          } else if (!state.name && call.function?.name) {
            state.name = call.function.name;
          }
          out.push({
            type: 'tool_call',
            completionId,
            index,
            toolCallId: state.id,
            name: state.name,
            argumentsDelta: call.function?.arguments ?? '',
          });
        }
      }
    }
    if (choice.finish_reason) {
      if (choice.finish_reason === 'error') {
        // OpenRouter marks a choice that failed mid-stream this way when it sends no error object.
        throw new ProviderError(
          StreamErrorCode.ProviderError,
          `${this.ctx.provider}: the generation failed mid-stream`,
          this.ctx.provider,
          { retryable: true },
        );
      }
      this.finishReason = openAiFinish(choice.finish_reason);
    }
  }

  end(out: StreamEvent[]): void {
    if (this.finished) return;
    if (this.finishReason === undefined) {
      throw endedEarly(this.ctx.provider);
    }
    this.finish(out);
  }

  private finish(out: StreamEvent[]): void {
    this.finished = true;
    const reason = this.finishReason ?? (this.tools.length > 0 ? 'tool_calls' : 'stop');
    out.push(completed(this.ctx.completionId, reason, this.usage ?? { ...NO_USAGE }));
  }
}

/** A whole chat.completion -> events: thinking, content, each tool call with its full arguments, completed. */
export function parseOpenAiResponse(body: unknown, ctx: ParseContext): StreamEvent[] {
  const response = body as OpenAiResponse;
  if (typeof response !== 'object' || response === null) {
    throw invalidResponse(ctx.provider, 'the response is not a JSON object');
  }
  if (response.error) {
    const { status, ...info } = openAiErrorInfo(response.error);
    throw streamFrameError(ctx.provider, info, ctx.secrets, status);
  }
  const choice = response.choices?.[0];
  if (!choice?.message) throw invalidResponse(ctx.provider, 'the response has no choices');
  const { completionId } = ctx;
  const { message } = choice;
  const events: StreamEvent[] = [];
  const reasoning = message.reasoning ?? message.reasoning_content;
  if (reasoning) events.push({ type: 'thinking', completionId, content: reasoning });
  const content = message.content ?? message.refusal;
  if (content) events.push({ type: 'content_chunk', completionId, content, index: 0 });
  (message.tool_calls ?? []).forEach((call, index) => {
    events.push({
      type: 'tool_call',
      completionId,
      index,
      toolCallId: call.id ?? syntheticToolCallId(completionId, index),
      name: call.function?.name ?? '',
      argumentsDelta: call.function?.arguments ?? '',
    });
  });
  const finish = choice.finish_reason ? openAiFinish(choice.finish_reason) : 'stop';
  events.push(
    completed(completionId, finish, response.usage ? openAiUsage(response.usage) : { ...NO_USAGE }),
  );
  return events;
}
