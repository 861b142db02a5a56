import { isObject } from '../../../common/is-object';
import { StreamErrorCode } from '../../../contract/error-code';
import type { FinishReason, StreamEvent, Usage } from '../../../contract/stream-event';
import { parseFrame } from '../../http/http-provider.adapter';
import { type ParseContext, type VendorStreamParser } from '../../http/vendor-codec';
import { completed, NO_USAGE, syntheticToolCallId, usage } from '../../http/translate';
import {
  endedEarly,
  httpStatusError,
  invalidResponse,
  parseProtoDuration,
  streamFrameError,
  type VendorErrorInfo,
} from '../../http/upstream-errors';
import { type ProviderError } from '../../provider.error';
import type { GeminiErrorObject, GeminiResponse, GeminiUsageMetadata } from './google.types';

const FINISH: Record<string, FinishReason> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
  IMAGE_PROHIBITED_CONTENT: 'content_filter',
  IMAGE_RECITATION: 'content_filter',
};

/**
 * A Gemini finishReason as OpenAI's. `STOP` after function calls is `tool_calls` (Gemini has no reason of its
 * own for it); `MALFORMED_FUNCTION_CALL`, `OTHER` and unknown reasons are a normal stop.
 */
export function geminiFinish(reason: string, calledTools: boolean): FinishReason {
  if (reason === 'STOP' && calledTools) return 'tool_calls';
  return FINISH[reason] ?? 'stop';
}

/** Gemini counts thinking apart from the answer; OpenAI's completion tokens include reasoning tokens. */
export function geminiUsage(raw: GeminiUsageMetadata): Usage {
  const thoughts = raw.thoughtsTokenCount ?? 0;
  return usage(
    raw.promptTokenCount ?? 0,
    (raw.candidatesTokenCount ?? 0) + thoughts,
    raw.totalTokenCount,
    thoughts,
  );
}

const RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo';
const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';

/**
 * What a google.rpc.Status says: its message, its canonical status as the type, the RetryInfo delay, and
 * `authentication_failed` when an ErrorInfo reason names the API key (Gemini answers a bad key with 400
 * INVALID_ARGUMENT, reason API_KEY_INVALID).
 */
export function geminiErrorInfo(error: GeminiErrorObject): VendorErrorInfo {
  const info: VendorErrorInfo = {};
  if (typeof error.message === 'string' && error.message !== '') info.message = error.message;
  if (typeof error.status === 'string' && error.status !== '') info.type = error.status;
  if (Array.isArray(error.details)) {
    for (const detail of error.details) {
      if (!isObject(detail)) continue;
      const type = detail['@type'];
      if (type === RETRY_INFO) info.retryAfterMs = parseProtoDuration(detail.retryDelay);
      else if (
        type === ERROR_INFO &&
        typeof detail.reason === 'string' &&
        detail.reason.startsWith('API_KEY_')
      ) {
        info.kind = StreamErrorCode.AuthenticationFailed;
      }
    }
  }
  return info;
}

/** The error object of an HTTP error body: `{error}`, or `[{error}]` as the non-SSE stream wraps it. */
export function geminiErrorBody(body: unknown): VendorErrorInfo {
  const root = Array.isArray(body) ? (body[0] as unknown) : body;
  if (isObject(root) && isObject(root.error)) return geminiErrorInfo(root.error);
  return typeof body === 'string' && body.trim() !== '' ? { message: body.trim().slice(0, 200) } : {};
}

/** An error object received with a 200 (an SSE error frame, or an error body sent as the answer). */
function reportedError(ctx: ParseContext, error: GeminiErrorObject): ProviderError {
  const info = geminiErrorInfo(error);
  const status = typeof error.code === 'number' ? error.code : undefined;
  // A vendor-named kind (the API key) wins whatever the status; otherwise the canonical status decides.
  if (info.kind !== undefined) return httpStatusError(ctx.provider, status ?? 400, info, ctx.secrets);
  return streamFrameError(ctx.provider, info, ctx.secrets, status);
}

/**
 * Gemini stream frames -> StreamEvents. Each SSE `data:` is a whole GenerateContentResponse holding the next
 * parts: thought text, answer text and whole function calls (one tool_call event each, numbered in order).
 * Usage is complete on the last frame, which also carries the finishReason. Gemini sends no end marker, so the
 * turn completes when the body ends after a finishReason; ending without one is a lost connection.
 */
export class GoogleStreamParser implements VendorStreamParser {
  finished = false;
  /** The finish reason, once a candidate (or the prompt feedback) gave one. */
  private finishReason: FinishReason | undefined;
  private usage: Usage | undefined;
  private toolCalls = 0;

  constructor(private readonly ctx: ParseContext) {}

  frame(_event: string, data: string, out: StreamEvent[]): void {
    this.response(parseFrame<unknown>(data, this.ctx.provider), out);
  }

  /** One GenerateContentResponse (a stream frame's data, or the whole non-streamed answer). */
  response(value: unknown, out: StreamEvent[]): void {
    if (!isObject(value)) throw invalidResponse(this.ctx.provider, 'a stream frame is not a JSON object');
    const response = value as GeminiResponse;
    if (isObject(response.error)) throw reportedError(this.ctx, response.error);
    if (response.usageMetadata) this.usage = geminiUsage(response.usageMetadata);
    const candidate = response.candidates?.[0];
    if (!candidate) {
      if (response.promptFeedback?.blockReason) {
        // The prompt itself was blocked: no candidates at all.
        this.finishReason = 'content_filter';
      }
      return;
    }
    const { completionId } = this.ctx;
    for (const part of candidate.content?.parts ?? []) {
      if (typeof part.text === 'string') {
        if (part.text === '') continue;
        if (part.thought === true) out.push({ type: 'thinking', completionId, content: part.text });
        else out.push({ type: 'content_chunk', completionId, content: part.text, index: 0 });
      } else if (part.functionCall) {
        const { id, name, args } = part.functionCall;
        const index = this.toolCalls++;
        out.push({
          type: 'tool_call',
          completionId,
          index,
          toolCallId: typeof id === 'string' && id !== '' ? id : syntheticToolCallId(completionId, index),
          name: typeof name === 'string' ? name : '',
          argumentsDelta: JSON.stringify(args ?? {}),
        });
      }
      // Other parts (inline data, code execution results, bare thought signatures) have no OpenAI form.
    }
    if (candidate.finishReason) {
      this.finishReason = geminiFinish(candidate.finishReason, this.toolCalls > 0);
    }
  }

  end(out: StreamEvent[]): void {
    if (this.finished) return;
    if (this.finishReason === undefined) {
      throw endedEarly(this.ctx.provider);
    }
    this.complete(out);
  }

  /** Pushes the terminal event; a whole answer without a finishReason is a normal stop. */
  complete(out: StreamEvent[]): void {
    this.finished = true;
    const reason = this.finishReason ?? (this.toolCalls > 0 ? 'tool_calls' : 'stop');
    out.push(completed(this.ctx.completionId, reason, this.usage ?? { ...NO_USAGE }));
  }
}

/** A whole GenerateContentResponse -> events: thinking, content, each function call, completed. */
export function parseGeminiResponse(body: unknown, ctx: ParseContext): StreamEvent[] {
  if (!isObject(body)) throw invalidResponse(ctx.provider, 'the response is not a JSON object');
  const response = body as GeminiResponse;
  if (isObject(response.error)) throw reportedError(ctx, response.error);
  if (!response.candidates?.length && !response.promptFeedback?.blockReason) {
    throw invalidResponse(ctx.provider, 'the response has no candidates');
  }
  const parser = new GoogleStreamParser(ctx);
  const events: StreamEvent[] = [];
  parser.response(response, events);
  parser.complete(events);
  return events;
}
