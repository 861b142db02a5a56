import { StreamErrorCode } from '../../../contract/error-code';
import { ModelConfig } from '../../../config/app-config';
import type { ChatCompletionRequest } from '../../../contract/chat-request';
import type { ParseContext } from '../../http/vendor-codec';
import { providerErrorOf } from '../../testing/errors';
import { eventsOf } from '../../testing/events';
import { expectOutcomeAtEverySplit, fixtureReader, type Outcome, replayOutcome } from '../../testing/replay';
import {
  anthropicErrorBody,
  anthropicFinish,
  AnthropicStreamParser,
  parseAnthropicResponse,
} from './anthropic.stream-parser';

const ID = 'chatcmpl-test0123456789abcdef';
const KEY = 'sk-ant-api03-secret-key-0123456789';

function context(request: Partial<ChatCompletionRequest> = {}): ParseContext {
  return {
    completionId: ID,
    provider: 'anthropic',
    model: Object.assign(new ModelConfig(), {
      id: 'anthropic/claude',
      provider: 'anthropic',
      upstream: 'claude-sonnet-4-5',
    }),
    request: { model: 'anthropic/claude', messages: [{ role: 'user', content: 'Hi' }], ...request },
    secrets: [KEY],
  };
}

const fixture = fixtureReader(__dirname);
const newParser = (request: Partial<ChatCompletionRequest> = {}) =>
  new AnthropicStreamParser(context(request));

/** The fixture whole must give `expected`, and so must every way of splitting its bytes. */
function expectFixture(name: string, expected: Outcome): void {
  expectOutcomeAtEverySplit('sse', () => newParser(), fixture(name), expected);
}

const { text, thinking, done } = eventsOf(ID);
const tool = (index: number, toolCallId: string, argumentsDelta: string) =>
  eventsOf(ID).tool(index, toolCallId, 'get_weather', argumentsDelta);

describe('AnthropicStreamParser on recorded-shape streams, whole and split at every byte', () => {
  it('text with multi-byte UTF-8, a ping, usage counting cache reads and writes', () => {
    expectFixture('text.sse', {
      events: [text('Hel'), text('lo wörld 😀'), text(' — 日本語'), done('stop', 124, 12, 136)],
    });
  });

  it('thinking (signature ignored), text, then tool calls numbered 0, 1 whatever their block index', () => {
    expectFixture('thinking-tools.sse', {
      events: [
        thinking('The user wants the weather '),
        thinking('in two cities.'),
        text('Checking both.'),
        tool(0, 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', ''),
        tool(0, 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', '{"city": "Par'),
        tool(0, 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', 'is"}'),
        tool(1, 'toolu_01NRLabsLyVHZPKxbKvkfSMn', ''),
        tool(1, 'toolu_01NRLabsLyVHZPKxbKvkfSMn', '{"city": "Zürich"}'),
        done('tool_calls', 472, 89, 561),
      ],
    });
  });

  it('drops thinking when the request asked for reasoning to be excluded', () => {
    const { events } = replayOutcome('sse', newParser({ reasoning: { effort: 'low', exclude: true } }), [
      fixture('thinking-tools.sse'),
    ]);
    expect(events.filter((e) => e.type === 'thinking')).toEqual([]);
    expect(events.filter((e) => e.type === 'tool_call')).toHaveLength(5);
  });

  it('ignores redacted thinking and unknown events; max_tokens -> length', () => {
    expectFixture('redacted-unknown.sse', {
      events: [text('Cut at the limit'), done('length', 30, 64, 94)],
    });
  });

  it('an overloaded_error event mid-stream -> rate_limit_exceeded, retryable, after the text before it', () => {
    expectFixture('overloaded-mid-stream.sse', {
      events: [text('partial ')],
      error: {
        code: StreamErrorCode.RateLimitExceeded,
        retryable: true,
        vendorType: 'overloaded_error',
        message: 'anthropic is rate limiting or overloaded: Overloaded',
      },
    });
  });

  it('a cut-off JSON frame -> invalid_response, without quoting the frame', () => {
    expectFixture('malformed.sse', {
      events: [text('partial ')],
      error: {
        code: StreamErrorCode.InvalidResponse,
        retryable: false,
        message: 'anthropic: malformed stream frame (84 characters that are not JSON)',
      },
    });
  });

  it('a clean end before message_delta/message_stop -> connection_lost, retryable', () => {
    expectFixture('cut-short.sse', {
      events: [text('partial ')],
      error: {
        code: StreamErrorCode.ConnectionLost,
        retryable: true,
        message: 'anthropic: the stream ended before the answer was finished',
      },
    });
  });
});

describe('AnthropicStreamParser frame by frame', () => {
  const feed = (frames: Array<[string, unknown]>): Outcome => {
    const sse = frames
      .map(
        ([event, data]) =>
          `event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`,
      )
      .join('');
    return replayOutcome('sse', newParser(), [Buffer.from(sse)]);
  };

  it('an api_error event -> provider_error, retryable; the message is scrubbed of the key', () => {
    const outcome = feed([
      ['error', { type: 'error', error: { type: 'api_error', message: `boom ${KEY}` } }],
    ]);
    expect(outcome.error).toEqual({
      code: StreamErrorCode.ProviderError,
      retryable: true,
      vendorType: 'api_error',
      message: 'anthropic failed: boom [redacted]',
    });
  });

  it.each([
    ['rate_limit_error', StreamErrorCode.RateLimitExceeded, true],
    ['invalid_request_error', StreamErrorCode.BadRequest, false],
    ['authentication_error', StreamErrorCode.AuthenticationFailed, false],
    ['some_new_error', StreamErrorCode.ProviderError, true],
  ])('an error event of type %s -> %s', (type, code, retryable) => {
    const outcome = feed([['error', { type: 'error', error: { type, message: 'nope' } }]]);
    expect(outcome.error).toMatchObject({ code, retryable });
  });

  it('a stop reason without message_stop is a whole answer', () => {
    const outcome = feed([
      ['message_start', { type: 'message_start', message: { usage: { input_tokens: 3, output_tokens: 1 } } }],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } },
      ],
      [
        'message_delta',
        { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } },
      ],
    ]);
    expect(outcome).toEqual({
      events: [text('ok'), done('stop', 3, 2, 5)],
    });
  });

  it('reads nothing after message_stop', () => {
    const outcome = feed([
      [
        'message_delta',
        { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 1 } },
      ],
      ['message_stop', { type: 'message_stop' }],
      ['error', { type: 'error', error: { type: 'api_error', message: 'late' } }],
    ]);
    expect(outcome.error).toBeUndefined();
    expect(outcome.events.map((e) => e.type)).toEqual(['completed']);
  });

  it('input_json_delta for a block that is not a tool_use -> invalid_response', () => {
    const outcome = feed([
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 4, delta: { type: 'input_json_delta', partial_json: '{}' } },
      ],
    ]);
    expect(outcome.error).toMatchObject({ code: StreamErrorCode.InvalidResponse, retryable: false });
    expect(outcome.error?.message).toContain('content block 4');
  });

  it('a frame that is JSON but not an object -> invalid_response', () => {
    expect(feed([['message_start', '[1,2]']]).error).toMatchObject({ code: StreamErrorCode.InvalidResponse });
  });

  it('a tool_use block without an id gets a synthetic one, repeated on its deltas', () => {
    const outcome = feed([
      [
        'content_block_start',
        {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'tool_use', name: 'get_weather', input: {} },
        },
      ],
      [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{}' } },
      ],
      ['message_stop', { type: 'message_stop' }],
    ]);
    const calls = outcome.events.filter((e) => e.type === 'tool_call');
    expect(calls.map((c) => c.toolCallId)).toEqual([`call_${ID.slice(-16)}_0`, `call_${ID.slice(-16)}_0`]);
    // message_stop without a stop reason: tool calls were made, so the finish is tool_calls.
    expect(outcome.events.at(-1)).toMatchObject({ type: 'completed', finishReason: 'tool_calls' });
  });

  it('message_delta usage that repeats the input counts updates the prompt tokens', () => {
    const outcome = feed([
      ['message_start', { type: 'message_start', message: { usage: { input_tokens: 3, output_tokens: 1 } } }],
      [
        'message_delta',
        {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn' },
          usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 7 },
        },
      ],
      ['message_stop', { type: 'message_stop' }],
    ]);
    expect(outcome.events.at(-1)).toMatchObject({
      usage: { promptTokens: 15, completionTokens: 7, totalTokens: 22 },
    });
  });
});

describe('anthropicFinish', () => {
  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['something_new', 'stop'],
  ])('%s -> %s', (reason, finish) => {
    expect(anthropicFinish(reason, false)).toBe(finish);
  });
});

describe('parseAnthropicResponse (non-streaming)', () => {
  it('thinking, text blocks joined, tool calls with their whole input, completed', () => {
    const body = {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5-20250929',
      content: [
        { type: 'thinking', thinking: 'Hmm, ', signature: 'EqQB' },
        { type: 'redacted_thinking', data: 'EmwK' },
        { type: 'thinking', thinking: 'Paris.', signature: 'EqQC' },
        { type: 'text', text: 'Let me check ' },
        { type: 'text', text: 'für dich 😀' },
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_01B', name: 'get_weather', input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 40,
        cache_creation_input_tokens: 2,
        cache_read_input_tokens: 8,
        output_tokens: 30,
      },
    };
    expect(parseAnthropicResponse(body, context())).toEqual([
      thinking('Hmm, Paris.'),
      text('Let me check für dich 😀'),
      tool(0, 'toolu_01A', '{"city":"Paris"}'),
      tool(1, 'toolu_01B', '{}'),
      done('tool_calls', 50, 30, 80),
    ]);
  });

  it('a refusal -> content_filter; no usage -> zeros', () => {
    expect(
      parseAnthropicResponse({ type: 'message', content: [], stop_reason: 'refusal' }, context()),
    ).toEqual([done('content_filter', 0, 0, 0)]);
  });

  it('an error body with status 200 is classified by its type', () => {
    const body = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    expect(providerErrorOf(() => parseAnthropicResponse(body, context()))).toMatchObject({
      code: StreamErrorCode.RateLimitExceeded,
      retryable: true,
      message: 'anthropic is rate limiting or overloaded: Overloaded',
    });
  });

  it.each([
    ['not an object', 'hello'],
    ['no content array', { type: 'message', content: 'text' }],
  ])('%s -> invalid_response', (_what, body) => {
    expect(providerErrorOf(() => parseAnthropicResponse(body, context()))).toMatchObject({
      code: StreamErrorCode.InvalidResponse,
      retryable: false,
    });
  });
});

describe('anthropicErrorBody', () => {
  it('reads type and message from the error envelope', () => {
    expect(
      anthropicErrorBody({ type: 'error', error: { type: 'not_found_error', message: 'model: claude-x' } }),
    ).toEqual({ type: 'not_found_error', message: 'model: claude-x' });
  });

  it('keeps the start of a text body (a proxy page) and ignores other shapes', () => {
    expect(anthropicErrorBody('  <html>Bad gateway</html>  ')).toEqual({
      message: '<html>Bad gateway</html>',
    });
    expect(anthropicErrorBody({ error: 'flat' })).toEqual({});
    expect(anthropicErrorBody('')).toEqual({});
  });
});
