import { isObject } from '../../../common/is-object';
import type { FinishReason, StreamEvent } from '../../../contract/stream-event';
import { parseFrame } from '../../http/http-provider.adapter';
import { type ParseContext, type VendorStreamParser } from '../../http/vendor-codec';
import { completed, syntheticToolCallId, usage } from '../../http/translate';
import {
  endedEarly,
  invalidResponse,
  streamFrameError,
  type VendorErrorInfo,
} from '../../http/upstream-errors';
import type { OllamaChatChunk, OllamaToolCallWire } from './ollama.types';

/**
 * Ollama `/api/chat` NDJSON lines -> StreamEvents. Each line carries a `message` delta (`thinking`, `content`,
 * whole `tool_calls` with OBJECT arguments); the line with `done: true` carries the finish reason and the token
 * counts and ends the turn. A `{"error": "..."}` line is a failure inside the 200 stream.
 */
export class OllamaStreamParser implements VendorStreamParser {
  finished = false;
  /** Tool calls emitted so far: the next call's index (Ollama's own `function.index` restarts per line). */
  private toolCalls = 0;

  constructor(private readonly ctx: ParseContext) {}

  frame(_event: string, data: string, out: StreamEvent[]): void {
    const line = parseFrame<unknown>(data, this.ctx.provider);
    if (!isObject(line)) throw invalidResponse(this.ctx.provider, 'a stream line is not a JSON object');
    this.line(line, out);
  }

  /** One parsed line (or the whole non-streaming answer). */
  line(chunk: OllamaChatChunk, out: StreamEvent[]): void {
    if (chunk.error !== undefined && chunk.error !== null) {
      throw streamFrameError(this.ctx.provider, ollamaErrorInfo(chunk), this.ctx.secrets);
    }
    const { message } = chunk;
    if (message !== undefined && message !== null) {
      if (!isObject(message)) throw invalidResponse(this.ctx.provider, '`message` is not a JSON object');
      const { completionId } = this.ctx;
      if (typeof message.thinking === 'string' && message.thinking !== '') {
        out.push({ type: 'thinking', completionId, content: message.thinking });
      }
      if (typeof message.content === 'string' && message.content !== '') {
        out.push({ type: 'content_chunk', completionId, content: message.content, index: 0 });
      }
      const calls = message.tool_calls;
      if (calls !== undefined && calls !== null) {
        if (!Array.isArray(calls)) throw invalidResponse(this.ctx.provider, '`tool_calls` is not an array');
        for (const call of calls) out.push(this.toolCall(call));
      }
    }
    if (chunk.done === true) {
      this.finished = true;
      out.push(
        completed(
          this.ctx.completionId,
          this.finishReason(chunk.done_reason),
          usage(count(chunk.prompt_eval_count), count(chunk.eval_count)),
        ),
      );
    }
  }

  end(_out: StreamEvent[]): void {
    if (this.finished) return;
    throw endedEarly(this.ctx.provider);
  }

  private toolCall(call: OllamaToolCallWire): StreamEvent {
    const fn = isObject(call) ? call.function : undefined;
    if (!isObject(fn) || typeof fn.name !== 'string' || fn.name === '') {
      throw invalidResponse(this.ctx.provider, 'a tool call has no function name');
    }
    const index = this.toolCalls++;
    const { completionId } = this.ctx;
    const args = fn.arguments;
    return {
      type: 'tool_call',
      completionId,
      index,
      toolCallId:
        typeof call.id === 'string' && call.id !== '' ? call.id : syntheticToolCallId(completionId, index),
      name: fn.name,
      // Objects as Ollama sends them; a string (some proxies re-encode) is already JSON.
      argumentsDelta: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
    };
  }

  private finishReason(reason: string | undefined): FinishReason {
    if (reason === 'length') return 'length';
    if ((reason === 'stop' || reason === undefined) && this.toolCalls > 0) return 'tool_calls';
    return 'stop';
  }
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** A whole non-streaming `/api/chat` answer (`done: true`) -> events, ending with `completed`. */
export function parseOllamaResponse(body: unknown, ctx: ParseContext): StreamEvent[] {
  if (!isObject(body)) throw invalidResponse(ctx.provider, 'the response is not a JSON object');
  const parser = new OllamaStreamParser(ctx);
  const events: StreamEvent[] = [];
  parser.line(body, events);
  if (!parser.finished) throw invalidResponse(ctx.provider, 'the response is not finished (no `done: true`)');
  return events;
}

/** What an Ollama error body says: `{"error": "<text>"}`, or text from a proxy in front of it. */
export function ollamaErrorInfo(body: unknown): VendorErrorInfo {
  if (isObject(body)) {
    const { error } = body;
    if (typeof error === 'string') return error.trim() === '' ? {} : { message: error.trim() };
    // Some proxies in front of Ollama answer in OpenAI's shape.
    if (isObject(error) && typeof error.message === 'string') return { message: error.message };
    return {};
  }
  return typeof body === 'string' && body.trim() !== '' ? { message: body.trim().slice(0, 200) } : {};
}
