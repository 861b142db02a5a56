import type { RecordedRequest, WireResponse } from '../../src/providers/testing/fake-upstream';
import {
  type ErrorKind,
  type HttpErrorReply,
  type StreamFrames,
  type Turn,
  VendorFake,
  type VendorWire,
} from './vendor-fake';

/**
 * Ollama's native API as `ollama serve` sends it: `POST /api/chat` streams NDJSON (`application/x-ndjson`) by
 * default, one `{model, created_at, message, done:false}` line per token (thinking lines carry
 * `message.thinking` with empty content; tool calls come whole, arguments as OBJECTS, in one line with empty
 * content), then a `done:true` line with `done_reason` and the counts and durations (ns). `stream:false` gets
 * the same fields in one JSON object. Errors are `{"error":"<text>"}`, as the HTTP body or as a stream line.
 * `GET /api/tags` lists the pulled models; tests steer it through an OllamaTags object.
 */

/** The fake's model list: change `models` to change what `/api/tags` says; `fail` makes it answer 500. */
export interface OllamaTags {
  models: string[];
  fail: boolean;
}

interface OllamaBody {
  model?: string;
  stream?: boolean;
  messages?: Array<{ role?: string; content?: unknown }>;
}

const CREATED_AT = '2026-01-15T10:20:30.123456789Z';
/** Ollama's own text when its request queue is full (OLLAMA_MAX_QUEUE). */
const SERVER_BUSY = 'server busy, please try again.  maximum pending requests exceeded';
export const OLLAMA_STREAM_ERROR = 'an error was encountered while running the model: unexpected EOF';

function bodyOf(request: RecordedRequest): OllamaBody {
  return typeof request.body === 'object' && request.body !== null ? request.body : {};
}

function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

function toolCallsOf(turn: Turn): Array<Record<string, unknown>> {
  return (turn.toolCalls ?? []).map((call, index) => ({
    ...(call.id === undefined ? {} : { id: call.id }),
    function: { index, name: call.name, arguments: JSON.parse(call.arguments.join('')) as unknown },
  }));
}

function doneFields(turn: Turn): Record<string, unknown> {
  const prompt = turn.usage?.prompt ?? 0;
  const completion = turn.usage?.completion ?? 0;
  return {
    done: true,
    done_reason: turn.finish ?? 'stop',
    total_duration: 1_234_567_890,
    load_duration: 23_456_789,
    prompt_eval_count: prompt,
    prompt_eval_duration: 45_678_901,
    eval_count: completion,
    eval_duration: 987_654_321,
  };
}

function tagEntry(name: string, i: number): Record<string, unknown> {
  return {
    name,
    model: name,
    modified_at: '2026-01-10T08:00:00.000000000Z',
    size: 2_019_393_189 + i,
    digest: `a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b7${i % 10}`,
    details: {
      parent_model: '',
      format: 'gguf',
      family: 'llama',
      families: ['llama'],
      parameter_size: '3.2B',
      quantization_level: 'Q4_K_M',
    },
  };
}

function json(status: number, value: unknown): WireResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    steps: [{ write: JSON.stringify(value) }],
  };
}

/** The Ollama wire, answering `/api/tags` from `tags`. */
export function ollamaWireWith(tags: OllamaTags): VendorWire {
  return {
    name: 'ollama',
    contentType: 'application/x-ndjson',

    // Ollama streams unless told not to.
    wantsStream: (request) => bodyOf(request).stream !== false,

    lastUserText(request) {
      const messages = bodyOf(request).messages ?? [];
      const last = [...messages].reverse().find((m) => m.role === 'user');
      return typeof last?.content === 'string' ? last.content : '';
    },

    streamFrames(turn: Turn, request: RecordedRequest): StreamFrames {
      const model = bodyOf(request).model ?? 'llama3.2';
      const chunk = (message: Record<string, unknown>) =>
        line({ model, created_at: CREATED_AT, message: { role: 'assistant', ...message }, done: false });
      const body: string[] = [];
      for (const thinking of turn.thinking ?? []) body.push(chunk({ content: '', thinking }));
      for (const content of turn.text ?? []) body.push(chunk({ content }));
      const toolCalls = toolCallsOf(turn);
      if (toolCalls.length > 0) body.push(chunk({ content: '', tool_calls: toolCalls }));
      const tail = [
        line({
          model,
          created_at: CREATED_AT,
          message: { role: 'assistant', content: '' },
          ...doneFields(turn),
        }),
      ];
      return { head: [], body, tail };
    },

    json(turn: Turn, request: RecordedRequest): unknown {
      const toolCalls = toolCallsOf(turn);
      return {
        model: bodyOf(request).model ?? 'llama3.2',
        created_at: CREATED_AT,
        message: {
          role: 'assistant',
          content: (turn.text ?? []).join(''),
          ...(turn.thinking ? { thinking: turn.thinking.join('') } : {}),
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        ...doneFields(turn),
      };
    },

    httpError(kind: ErrorKind, message: string, retryAfterSeconds?: number): HttpErrorReply {
      const error = (status: number, text: string): HttpErrorReply => ({
        status,
        body: JSON.stringify({ error: text }),
      });
      switch (kind) {
        case 'auth':
          // From an auth proxy in front of Ollama (Ollama itself has no keys).
          return error(401, 'unauthorized');
        case 'forbidden':
          return error(403, 'forbidden');
        case 'rate_limit': {
          const reply = error(429, message);
          if (retryAfterSeconds !== undefined) reply.headers = { 'retry-after': String(retryAfterSeconds) };
          return reply;
        }
        case 'overloaded':
        case 'unavailable':
          return error(503, SERVER_BUSY);
        case 'server':
          return error(500, message);
        case 'bad_request':
          return error(400, message);
        case 'not_found':
          return error(404, "model 'llama3.2:latest' not found");
      }
    },

    // Ollama has one in-stream failure shape: a line with only a string `error`.
    errorFrame: () => line({ error: OLLAMA_STREAM_ERROR }),

    malformedFrame: () =>
      `{"model":"llama3.2","created_at":"${CREATED_AT}","message":{"role":"assistant","content":"cut off\n`,

    keepaliveFrame: () => '',

    extraRoute(request: RecordedRequest): WireResponse | undefined {
      if (request.method !== 'GET' || request.path !== '/api/tags') return undefined;
      if (tags.fail)
        return json(500, { error: 'listing models: open /root/.ollama/models/manifests: permission denied' });
      return json(200, { models: tags.models.map(tagEntry) });
    },
  };
}

/** The models the shared suite's fake lists. */
export const OLLAMA_DEFAULT_MODELS: readonly string[] = ['llama3.2:latest', 'qwen3:8b'];

export const ollamaWire: VendorWire = ollamaWireWith({ models: [...OLLAMA_DEFAULT_MODELS], fail: false });

/** An Ollama fake whose `/api/tags` answers from `tags` (change it between requests). */
export function ollamaFake(
  tags: OllamaTags = { models: [...OLLAMA_DEFAULT_MODELS], fail: false },
): VendorFake {
  return new VendorFake(ollamaWireWith(tags));
}
