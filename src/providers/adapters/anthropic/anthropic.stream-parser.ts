import { isObject } from '../../../common/is-object';
import type { FinishReason, StreamEvent, Usage } from '../../../contract/stream-event';
import { parseFrame } from '../../http/http-provider.adapter';
import { type ParseContext, type VendorStreamParser } from '../../http/vendor-codec';
import { completed, syntheticToolCallId, usage } from '../../http/translate';
import {
  endedEarly,
  invalidResponse,
  streamFrameError,
  type VendorErrorInfo,
} from '../../http/upstream-errors';
import type {
  AnthropicErrorObject,
  AnthropicResponse,
  AnthropicStreamEvent,
  AnthropicUsage,
} from './anthropic.types';

const FINISH: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** An Anthropic `stop_reason` as OpenAI's finish reason; unknown or absent, the natural one. */
export function anthropicFinish(reason: string | null | undefined, madeToolCalls: boolean): FinishReason {
  return (reason ? FINISH[reason] : undefined) ?? (madeToolCalls ? 'tool_calls' : 'stop');
}

/** Prompt tokens: Anthropic counts cache writes and reads apart from `input_tokens`. */
export function anthropicPromptTokens(raw: AnthropicUsage): number {
  return (
    (raw.input_tokens ?? 0) + (raw.cache_creation_input_tokens ?? 0) + (raw.cache_read_input_tokens ?? 0)
  );
}

/** What an Anthropic error object (`{type, message}`) says. */
export function anthropicErrorInfo(error: AnthropicErrorObject | undefined): VendorErrorInfo {
  if (typeof error !== 'object' || error === null) return {};
  return {
    message: typeof error.message === 'string' ? error.message : undefined,
    type: typeof error.type === 'string' && error.type !== '' ? error.type : undefined,
  };
}

/** An HTTP error body `{"type":"error","error":{"type","message"}}`, or a proxy's text. */
export function anthropicErrorBody(body: unknown): VendorErrorInfo {
  if (isObject(body) && isObject(body.error)) return anthropicErrorInfo(body.error);
  return typeof body === 'string' && body.trim() !== '' ? { message: body.trim().slice(0, 200) } : {};
}

/** A tool_use content block, by its Anthropic block index, and the OpenAI tool index it was given. */
interface ToolBlock {
  index: number;
  id: string;
  name: string;
}

/**
 * Anthropic Messages SSE events -> StreamEvents. `message_start` gives the prompt tokens, content blocks give
 * text, thinking and tool calls (numbered 0, 1, 2... in order of their blocks, whatever the block index),
 * `message_delta` the stop reason and the cumulative output tokens, and `message_stop` ends the turn. Pings,
 * signatures, redacted thinking and unknown events are ignored; an `error` event is thrown, classified.
 */
export class AnthropicStreamParser implements VendorStreamParser {
  finished = false;
  private promptTokens = 0;
  private outputTokens = 0;
  private stopReason: string | undefined;
  private readonly toolBlocks = new Map<number, ToolBlock>();
  private readonly showThinking: boolean;

  constructor(private readonly ctx: ParseContext) {
    this.showThinking = ctx.request.reasoning?.exclude !== true;
  }

  frame(event: string, data: string, out: StreamEvent[]): void {
    const parsed = parseFrame<AnthropicStreamEvent>(data, this.ctx.provider);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw invalidResponse(this.ctx.provider, 'a stream event is not a JSON object');
    }
    const type = parsed.type ?? event;
    if (type === 'error' || event === 'error') {
      throw streamFrameError(this.ctx.provider, anthropicErrorInfo(parsed.error), this.ctx.secrets);
    }
    switch (type) {
      case 'message_start':
        if (parsed.message?.usage) this.addUsage(parsed.message.usage);
        break;
      case 'content_block_start':
        this.blockStart(parsed, out);
        break;
      case 'content_block_delta':
        this.blockDelta(parsed, out);
        break;
      case 'message_delta':
        if (parsed.delta?.stop_reason) this.stopReason = parsed.delta.stop_reason;
        if (parsed.usage) this.addUsage(parsed.usage);
        break;
      case 'message_stop':
        this.finish(out);
        break;
      default:
        // ping, content_block_stop, and events added after this adapter was written.
        break;
    }
  }

  end(out: StreamEvent[]): void {
    if (this.finished) return;
    // A stop reason without message_stop is a whole answer; without one, the stream was cut short.
    if (this.stopReason === undefined) {
      throw endedEarly(this.ctx.provider);
    }
    this.finish(out);
  }

  /** message_start carries the input counts; message_delta the cumulative output (and sometimes input). */
  private addUsage(raw: AnthropicUsage): void {
    if (
      raw.input_tokens != null ||
      raw.cache_creation_input_tokens != null ||
      raw.cache_read_input_tokens != null
    ) {
      this.promptTokens = anthropicPromptTokens(raw);
    }
    if (raw.output_tokens != null) this.outputTokens = raw.output_tokens;
  }

  private blockStart(parsed: AnthropicStreamEvent, out: StreamEvent[]): void {
    const block = parsed.content_block;
    if (!block) return;
    const { completionId } = this.ctx;
    switch (block.type ?? '') {
      case 'text':
        if (block.text) out.push({ type: 'content_chunk', completionId, content: block.text, index: 0 });
        break;
      case 'thinking':
        if (block.thinking && this.showThinking) {
          out.push({ type: 'thinking', completionId, content: block.thinking });
        }
        break;
      case 'tool_use': {
        const index = this.toolBlocks.size;
        const tool: ToolBlock = {
          index,
          id: block.id || syntheticToolCallId(completionId, index),
          name: block.name ?? '',
        };
        this.toolBlocks.set(this.blockIndex(parsed), tool);
        out.push({
          type: 'tool_call',
          completionId,
          index,
          toolCallId: tool.id,
          name: tool.name,
          argumentsDelta: '',
        });
        break;
      }
      default:
        // redacted_thinking, server tool blocks...: nothing a chat completion can carry.
        break;
    }
  }

  private blockDelta(parsed: AnthropicStreamEvent, out: StreamEvent[]): void {
    const delta = parsed.delta;
    if (!delta) return;
    const { completionId } = this.ctx;
    switch (delta.type ?? '') {
      case 'text_delta':
        if (delta.text) out.push({ type: 'content_chunk', completionId, content: delta.text, index: 0 });
        break;
      case 'thinking_delta':
        if (delta.thinking && this.showThinking) {
          out.push({ type: 'thinking', completionId, content: delta.thinking });
        }
        break;
      case 'input_json_delta': {
        const index = this.blockIndex(parsed);
        const tool = this.toolBlocks.get(index);
        if (!tool) {
          throw invalidResponse(
            this.ctx.provider,
            `input_json_delta for content block ${index}, which did not start as tool_use`,
          );
        }
        if (delta.partial_json) {
          out.push({
            type: 'tool_call',
            completionId,
            index: tool.index,
            toolCallId: tool.id,
            name: tool.name,
            argumentsDelta: delta.partial_json,
          });
        }
        break;
      }
      default:
        // signature_delta, citations_delta...
        break;
    }
  }

  private blockIndex(parsed: AnthropicStreamEvent): number {
    if (typeof parsed.index !== 'number') {
      throw invalidResponse(this.ctx.provider, `a ${parsed.type ?? 'content block'} event has no index`);
    }
    return parsed.index;
  }

  private finish(out: StreamEvent[]): void {
    this.finished = true;
    const used: Usage = usage(this.promptTokens, this.outputTokens);
    out.push(
      completed(this.ctx.completionId, anthropicFinish(this.stopReason, this.toolBlocks.size > 0), used),
    );
  }
}

/** A whole Messages response -> events: thinking, text, each tool call with its whole input as JSON, completed. */
export function parseAnthropicResponse(body: unknown, ctx: ParseContext): StreamEvent[] {
  if (!isObject(body)) throw invalidResponse(ctx.provider, 'the response is not a JSON object');
  const response = body as AnthropicResponse;
  if (response.type === 'error') {
    throw streamFrameError(ctx.provider, anthropicErrorInfo(response.error), ctx.secrets);
  }
  if (!Array.isArray(response.content)) {
    throw invalidResponse(ctx.provider, 'the response has no content array');
  }
  const { completionId } = ctx;
  const showThinking = ctx.request.reasoning?.exclude !== true;
  let thinking = '';
  let text = '';
  const tools: StreamEvent[] = [];
  for (const block of response.content) {
    if (typeof block !== 'object' || block === null) continue;
    switch (block.type ?? '') {
      case 'thinking':
        if (typeof block.thinking === 'string') thinking += block.thinking;
        break;
      case 'text':
        if (typeof block.text === 'string') text += block.text;
        break;
      case 'tool_use': {
        const index = tools.length;
        tools.push({
          type: 'tool_call',
          completionId,
          index,
          toolCallId: block.id || syntheticToolCallId(completionId, index),
          name: block.name ?? '',
          argumentsDelta: JSON.stringify(block.input ?? {}),
        });
        break;
      }
      default:
        break;
    }
  }
  const events: StreamEvent[] = [];
  if (thinking && showThinking) events.push({ type: 'thinking', completionId, content: thinking });
  if (text) events.push({ type: 'content_chunk', completionId, content: text, index: 0 });
  events.push(...tools);
  const raw = response.usage ?? {};
  events.push(
    completed(
      completionId,
      anthropicFinish(response.stop_reason, tools.length > 0),
      usage(anthropicPromptTokens(raw), raw.output_tokens ?? 0),
    ),
  );
  return events;
}
