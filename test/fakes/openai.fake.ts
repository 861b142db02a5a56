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
 * OpenAI Chat Completions as OpenAI (and OpenRouter, vLLM...) send it: `data: <chunk>\n\n` frames with the same
 * id and created on each, a first chunk with `delta.role`, tool calls whose first delta carries id and name, a
 * finish chunk, a usage chunk with `choices: []` when `stream_options.include_usage`, then `data: [DONE]`.
 */

interface OpenAiBody {
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  messages?: Array<{ role: string; content: unknown }>;
}

const CREATED = 1_763_900_000;

function bodyOf(request: RecordedRequest): OpenAiBody {
  return typeof request.body === 'object' && request.body !== null ? request.body : {};
}

function frame(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

function usageOf(turn: Turn): Record<string, unknown> {
  const prompt = turn.usage?.prompt ?? 0;
  const completion = turn.usage?.completion ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: turn.usage?.reasoning ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function naturalFinish(turn: Turn): string {
  return turn.finish ?? (turn.toolCalls && turn.toolCalls.length > 0 ? 'tool_calls' : 'stop');
}

let ids = 0;

export const openAiWire: VendorWire = {
  name: 'openai',
  contentType: 'text/event-stream; charset=utf-8',

  wantsStream: (request) => bodyOf(request).stream === true,

  lastUserText: (request) => lastUserMessageText(request.body),

  streamFrames(turn: Turn, request: RecordedRequest): StreamFrames {
    const body = bodyOf(request);
    const id = `chatcmpl-fake${++ids}`;
    const base = {
      id,
      object: 'chat.completion.chunk',
      created: CREATED,
      model: body.model ?? 'gpt-4o',
      system_fingerprint: 'fp_fake',
    };
    const withUsage = body.stream_options?.include_usage === true;
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      frame({
        ...base,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...(withUsage ? { usage: null } : {}),
      });
    const head = [chunk({ role: 'assistant', content: '', refusal: null })];
    const out: string[] = [];
    for (const reasoning of turn.thinking ?? []) out.push(chunk({ reasoning }));
    for (const content of turn.text ?? []) out.push(chunk({ content }));
    (turn.toolCalls ?? []).forEach((call, index) => {
      out.push(
        chunk({
          tool_calls: [
            {
              index,
              id: call.id ?? `call_fake${index}`,
              type: 'function',
              function: { name: call.name, arguments: '' },
            },
          ],
        }),
      );
      for (const fragment of call.arguments)
        out.push(chunk({ tool_calls: [{ index, function: { arguments: fragment } }] }));
    });
    const tail = [chunk({}, naturalFinish(turn))];
    if (withUsage) tail.push(frame({ ...base, choices: [], usage: usageOf(turn) }));
    tail.push('data: [DONE]\n\n');
    return { head, body: out, tail };
  },

  json(turn: Turn, request: RecordedRequest): unknown {
    const toolCalls = (turn.toolCalls ?? []).map((call, index) => ({
      id: call.id ?? `call_fake${index}`,
      type: 'function',
      function: { name: call.name, arguments: call.arguments.join('') },
    }));
    const text = (turn.text ?? []).join('');
    return {
      id: `chatcmpl-fake${++ids}`,
      object: 'chat.completion',
      created: CREATED,
      model: bodyOf(request).model ?? 'gpt-4o',
      system_fingerprint: 'fp_fake',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: text === '' && toolCalls.length > 0 ? null : text,
            refusal: null,
            ...(turn.thinking ? { reasoning: turn.thinking.join('') } : {}),
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: naturalFinish(turn),
        },
      ],
      usage: usageOf(turn),
    };
  },

  httpError(kind: ErrorKind, message: string, retryAfterSeconds?: number): HttpErrorReply {
    const error = (status: number, type: string, code: string | null, param: string | null = null) => ({
      status,
      body: JSON.stringify({ error: { message, type, param, code } }),
    });
    switch (kind) {
      case 'auth':
        // OpenAI's real 401 echoes part of the key; the router must not pass it on.
        return {
          status: 401,
          body: JSON.stringify({
            error: {
              message:
                'Incorrect API key provided: sk-test-****************leak. You can find your API key at https://platform.openai.com/account/api-keys.',
              type: 'invalid_request_error',
              param: null,
              code: 'invalid_api_key',
            },
          }),
        };
      case 'forbidden':
        return error(403, 'invalid_request_error', 'unsupported_country_region_territory');
      case 'rate_limit': {
        const reply: HttpErrorReply = error(429, 'requests', 'rate_limit_exceeded');
        reply.headers = {
          'x-ratelimit-limit-requests': '500',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': `${retryAfterSeconds ?? 1}s`,
          ...(retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) }),
        };
        return reply;
      }
      case 'overloaded':
        return error(503, 'server_error', 'overloaded');
      case 'server':
        return error(500, 'server_error', null);
      case 'unavailable':
        return error(503, 'server_error', 'service_unavailable');
      case 'bad_request':
        return error(400, 'invalid_request_error', 'invalid_value', 'max_tokens');
      case 'not_found':
        return error(404, 'invalid_request_error', 'model_not_found', 'model');
    }
  },

  errorFrame(kind: ErrorKind, message: string): string {
    const types: Record<ErrorKind, [string, string | null]> = {
      auth: ['invalid_request_error', 'invalid_api_key'],
      forbidden: ['invalid_request_error', null],
      rate_limit: ['requests', 'rate_limit_exceeded'],
      overloaded: ['server_error', 'overloaded'],
      server: ['server_error', null],
      unavailable: ['server_error', null],
      bad_request: ['invalid_request_error', null],
      not_found: ['invalid_request_error', 'model_not_found'],
    };
    const [type, code] = types[kind];
    return frame({ error: { message, type, param: null, code } });
  },

  malformedFrame: () => 'data: {"id":"chatcmpl-broken","choices":[{"delta":{"content":"cut off\n\n',

  keepaliveFrame: () => ': OPENROUTER PROCESSING\n\n',
};

export function openAiFake(): VendorFake {
  return new VendorFake(openAiWire);
}
