import type { RecordedRequest } from '../../src/providers/testing/fake-upstream';
import {
  type ErrorKind,
  type HttpErrorReply,
  type StreamFrames,
  type Turn,
  VendorFake,
  type VendorWire,
} from './vendor-fake';

/**
 * The Gemini API as `models/{model}:streamGenerateContent?alt=sse` sends it: `data: <json>\r\n\r\n` frames (CRLF),
 * each a whole GenerateContentResponse with the next parts, `usageMetadata` (prompt counts only until the last
 * frame) and the same `responseId` and `modelVersion`; no preamble, no keepalives and no end marker. The last
 * frame carries an empty text part, the finishReason and the complete usage. Function calls come whole, with a
 * thought signature on the first. `:generateContent` answers one GenerateContentResponse. Errors are
 * google.rpc.Status bodies `{"error":{code, message, status, details}}`.
 */

interface GeminiBody {
  contents?: Array<{ role?: string; parts?: Array<{ text?: unknown }> }>;
}

const THOUGHT_SIGNATURE = 'CiQB0e2Kb7fakeSignatureOfTheThinkingThatLedToThisCall==';

function bodyOf(request: RecordedRequest): GeminiBody {
  return typeof request.body === 'object' && request.body !== null ? request.body : {};
}

function frame(value: unknown): string {
  return `data: ${JSON.stringify(value)}\r\n\r\n`;
}

/** The model named in the path, `/v1beta/models/<model>:streamGenerateContent`. */
function modelOf(request: RecordedRequest): string {
  const match = /\/models\/([^/:]+):/.exec(request.path);
  return match?.[1] === undefined ? 'gemini-2.5-flash' : decodeURIComponent(match[1]);
}

function promptUsage(turn: Turn): Record<string, unknown> {
  const prompt = turn.usage?.prompt ?? 0;
  return {
    promptTokenCount: prompt,
    totalTokenCount: prompt,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
  };
}

/** Gemini counts thinking (`thoughtsTokenCount`) apart from the answer (`candidatesTokenCount`). */
function fullUsage(turn: Turn): Record<string, unknown> {
  const prompt = turn.usage?.prompt ?? 0;
  const completion = turn.usage?.completion ?? 0;
  const thoughts = turn.usage?.reasoning ?? 0;
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: completion - thoughts,
    totalTokenCount: prompt + completion,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
  };
}

function functionCallParts(turn: Turn): Array<Record<string, unknown>> {
  return (turn.toolCalls ?? []).map((call, index) => ({
    functionCall: { name: call.name, args: JSON.parse(call.arguments.join('')) as unknown },
    ...(index === 0 ? { thoughtSignature: THOUGHT_SIGNATURE } : {}),
  }));
}

let ids = 0;

function responseId(): string {
  return `fakeGeminiResp${++ids}`;
}

/** google.rpc.Code name for each error kind, with its HTTP status. */
const STATUS: Record<ErrorKind, [number, string]> = {
  auth: [400, 'INVALID_ARGUMENT'],
  forbidden: [403, 'PERMISSION_DENIED'],
  rate_limit: [429, 'RESOURCE_EXHAUSTED'],
  overloaded: [503, 'UNAVAILABLE'],
  server: [500, 'INTERNAL'],
  unavailable: [503, 'UNAVAILABLE'],
  bad_request: [400, 'INVALID_ARGUMENT'],
  not_found: [404, 'NOT_FOUND'],
};

function status(code: number, statusName: string, message: string, details?: unknown[]): HttpErrorReply {
  return {
    status: code,
    body: JSON.stringify(
      { error: { code, message, status: statusName, ...(details ? { details } : {}) } },
      null,
      2,
    ),
  };
}

export const googleWire: VendorWire = {
  name: 'google',
  contentType: 'text/event-stream',

  wantsStream: (request) => request.path.includes(':streamGenerateContent'),

  lastUserText(request) {
    const contents = bodyOf(request).contents ?? [];
    for (let i = contents.length - 1; i >= 0; i--) {
      const content = contents[i];
      if (content?.role !== 'user') continue;
      const texts = (content.parts ?? []).flatMap((p) => (typeof p.text === 'string' ? [p.text] : []));
      if (texts.length > 0) return texts.join('');
    }
    return '';
  },

  streamFrames(turn: Turn, request: RecordedRequest): StreamFrames {
    const meta = { modelVersion: modelOf(request), responseId: responseId() };
    const chunk = (parts: unknown[], extra: Record<string, unknown> = {}, usage = promptUsage(turn)) =>
      frame({
        candidates: [{ content: { parts, role: 'model' }, ...extra, index: 0 }],
        usageMetadata: usage,
        ...meta,
      });
    const body: string[] = [];
    for (const text of turn.thinking ?? []) body.push(chunk([{ text, thought: true }]));
    for (const text of turn.text ?? []) body.push(chunk([{ text }]));
    const calls = functionCallParts(turn);
    if (calls.length > 0) body.push(chunk(calls));
    const tail = [chunk([{ text: '' }], { finishReason: turn.finish ?? 'STOP' }, fullUsage(turn))];
    return { head: [], body, tail };
  },

  json(turn: Turn, request: RecordedRequest): unknown {
    const parts: unknown[] = [];
    if (turn.thinking) parts.push({ text: turn.thinking.join(''), thought: true });
    const text = (turn.text ?? []).join('');
    if (text !== '' || !turn.toolCalls?.length) parts.push({ text });
    parts.push(...functionCallParts(turn));
    return {
      candidates: [{ content: { parts, role: 'model' }, finishReason: turn.finish ?? 'STOP', index: 0 }],
      usageMetadata: fullUsage(turn),
      modelVersion: modelOf(request),
      responseId: responseId(),
    };
  },

  httpError(kind: ErrorKind, message: string, retryAfterSeconds?: number): HttpErrorReply {
    const [code, name] = STATUS[kind];
    switch (kind) {
      case 'auth':
        // Gemini's answer to a bad key is a 400, not a 401: only the ErrorInfo reason says what it is.
        return status(code, name, 'API key not valid. Please pass a valid API key.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
          {
            '@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
            locale: 'en-US',
            message: 'API key not valid. Please pass a valid API key.',
          },
        ]);
      case 'rate_limit':
        // No retry-after header: the delay is only in RetryInfo.
        return status(code, name, message, [
          {
            '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
            violations: [
              {
                quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
                quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
                quotaDimensions: { location: 'global', model: 'gemini-2.5-flash' },
                quotaValue: '10',
              },
            ],
          },
          {
            '@type': 'type.googleapis.com/google.rpc.Help',
            links: [
              {
                description: 'Learn more about Gemini API quotas',
                url: 'https://ai.google.dev/gemini-api/docs/rate-limits',
              },
            ],
          },
          ...(retryAfterSeconds === undefined
            ? []
            : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterSeconds}s` }]),
        ]);
      case 'overloaded':
        return status(code, name, 'The model is overloaded. Please try again later.');
      case 'bad_request':
        return status(code, name, message, [
          {
            '@type': 'type.googleapis.com/google.rpc.BadRequest',
            fieldViolations: [{ field: 'generation_config.max_output_tokens', description: message }],
          },
        ]);
      case 'forbidden':
      case 'server':
      case 'unavailable':
      case 'not_found':
        return status(code, name, message);
    }
  },

  errorFrame(kind: ErrorKind, message: string): string {
    const [code, name] = kind === 'auth' ? [401, 'UNAUTHENTICATED'] : STATUS[kind];
    return frame({ error: { code, message, status: name } });
  },

  malformedFrame: () => 'data: {"candidates": [{"content": {"parts": [{"text": "cut off\r\n\r\n',

  keepaliveFrame: () => '',
};

export function googleFake(): VendorFake {
  return new VendorFake(googleWire);
}
