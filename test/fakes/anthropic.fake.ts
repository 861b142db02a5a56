import type { RecordedRequest } from '../../src/providers/testing/fake-upstream';
import {
  type ErrorKind,
  type HttpErrorReply,
  type StreamFrames,
  type Turn,
  lastUserMessageText,
  VendorFake,
  type VendorWire,
} from './vendor-fake';

/**
 * Anthropic Messages as the API sends it: SSE events named as their data's `type` (`message_start`, one
 * `content_block_start` / `_delta` / `_stop` run per block, `message_delta` with the stop reason and the
 * cumulative output tokens, `message_stop`), `ping` keepalives, `event: error` frames, error bodies
 * `{"type":"error","error":{"type","message"}}` with the status Anthropic uses for each, and a `request-id`
 * header on every response.
 */

interface AnthropicBody {
  model?: string;
  stream?: boolean;
  messages?: Array<{ role: string; content: unknown }>;
}

const MODEL = 'claude-sonnet-4-5-20250929';

let ids = 0;
const nextId = () => (++ids).toString(36).padStart(6, '0');

function bodyOf(request: RecordedRequest): AnthropicBody {
  return typeof request.body === 'object' && request.body !== null ? request.body : {};
}

/** One SSE event: the name repeats the data's `type`, as Anthropic does. */
function event(type: string, data: Record<string, unknown> = {}): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

function naturalFinish(turn: Turn): string {
  return turn.finish ?? (turn.toolCalls && turn.toolCalls.length > 0 ? 'tool_use' : 'end_turn');
}

function toolId(call: { id?: string }, index: number): string {
  return call.id ?? `toolu_01Fake${index}`;
}

const ERROR_TYPES: Record<ErrorKind, { status: number; type: string }> = {
  auth: { status: 401, type: 'authentication_error' },
  forbidden: { status: 403, type: 'permission_error' },
  rate_limit: { status: 429, type: 'rate_limit_error' },
  overloaded: { status: 529, type: 'overloaded_error' },
  server: { status: 500, type: 'api_error' },
  unavailable: { status: 503, type: 'api_error' },
  bad_request: { status: 400, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'not_found_error' },
};

function errorJson(type: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message } });
}

export const anthropicWire: VendorWire = {
  name: 'anthropic',
  contentType: 'text/event-stream; charset=utf-8',

  wantsStream: (request) => bodyOf(request).stream === true,

  lastUserText: (request) => lastUserMessageText(request.body),

  responseHeaders: () => ({ 'request-id': `req_011CFake${nextId()}` }),

  streamFrames(turn: Turn, request: RecordedRequest): StreamFrames {
    const head = [
      event('message_start', {
        message: {
          id: `msg_01Fake${nextId()}`,
          type: 'message',
          role: 'assistant',
          model: bodyOf(request).model ?? MODEL,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: turn.usage?.prompt ?? 0,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens: 1,
            service_tier: 'standard',
          },
        },
      }),
    ];
    const body: string[] = [];
    let index = 0;
    if (turn.thinking && turn.thinking.length > 0) {
      body.push(
        event('content_block_start', {
          index,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        }),
      );
      for (const thinking of turn.thinking) {
        body.push(event('content_block_delta', { index, delta: { type: 'thinking_delta', thinking } }));
      }
      body.push(
        event('content_block_delta', {
          index,
          delta: {
            type: 'signature_delta',
            signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds',
          },
        }),
        event('content_block_stop', { index }),
      );
      index++;
    }
    if (turn.text && turn.text.length > 0) {
      body.push(event('content_block_start', { index, content_block: { type: 'text', text: '' } }));
      for (const text of turn.text) {
        body.push(event('content_block_delta', { index, delta: { type: 'text_delta', text } }));
      }
      body.push(event('content_block_stop', { index }));
      index++;
    }
    (turn.toolCalls ?? []).forEach((call, i) => {
      body.push(
        event('content_block_start', {
          index,
          content_block: { type: 'tool_use', id: toolId(call, i), name: call.name, input: {} },
        }),
        // Anthropic opens every tool input with an empty fragment.
        event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } }),
      );
      for (const partial_json of call.arguments) {
        body.push(event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } }));
      }
      body.push(event('content_block_stop', { index }));
      index++;
    });
    const tail = [
      event('message_delta', {
        delta: { stop_reason: naturalFinish(turn), stop_sequence: null },
        usage: { output_tokens: turn.usage?.completion ?? 0 },
      }),
      event('message_stop'),
    ];
    return { head, body, tail };
  },

  json(turn: Turn, request: RecordedRequest): unknown {
    const content: Array<Record<string, unknown>> = [];
    if (turn.thinking && turn.thinking.length > 0) {
      content.push({ type: 'thinking', thinking: turn.thinking.join(''), signature: 'EqQBCgIYAhIMfake' });
    }
    const text = (turn.text ?? []).join('');
    if (text !== '') content.push({ type: 'text', text });
    (turn.toolCalls ?? []).forEach((call, i) => {
      const input = JSON.parse(call.arguments.join('') || '{}') as unknown;
      content.push({ type: 'tool_use', id: toolId(call, i), name: call.name, input });
    });
    return {
      id: `msg_01Fake${nextId()}`,
      type: 'message',
      role: 'assistant',
      model: bodyOf(request).model ?? MODEL,
      content,
      stop_reason: naturalFinish(turn),
      stop_sequence: null,
      usage: {
        input_tokens: turn.usage?.prompt ?? 0,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: turn.usage?.completion ?? 0,
        service_tier: 'standard',
      },
    };
  },

  httpError(kind: ErrorKind, message: string, retryAfterSeconds?: number): HttpErrorReply {
    const { status, type } = ERROR_TYPES[kind];
    const reply: HttpErrorReply = { status, body: errorJson(type, message) };
    if (kind === 'rate_limit') {
      reply.headers = {
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': '2026-11-24T00:00:07Z',
        ...(retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) }),
      };
    }
    return reply;
  },

  errorFrame(kind: ErrorKind, message: string): string {
    return `event: error\ndata: ${errorJson(ERROR_TYPES[kind].type, message)}\n\n`;
  },

  malformedFrame: () =>
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"cut off\n\n',

  keepaliveFrame: () => 'event: ping\ndata: {"type": "ping"}\n\n',
};

export function anthropicFake(): VendorFake {
  return new VendorFake(anthropicWire);
}
