import { StreamErrorCode } from '../../../contract/error-code';
import type { StreamEvent } from '../../../contract/stream-event';
import type { ParseContext } from '../../http/vendor-codec';
import { syntheticToolCallId } from '../../http/translate';
import { eventsOf } from '../../testing/events';
import { expectOutcomeAtEverySplit, fixtureReader, type Outcome, replayOutcome } from '../../testing/replay';
import { geminiFinish, geminiUsage, GoogleStreamParser, parseGeminiResponse } from './google.stream-parser';

const COMPLETION_ID = 'chatcmpl-0123456789abcdef01234567';
const KEY = 'AIzaSyD-test-key-0123456789abcdefghijk';

function ctx(): ParseContext {
  return {
    completionId: COMPLETION_ID,
    provider: 'google',
    model: {
      id: 'google/gemini',
      provider: 'google',
      upstream: 'gemini-2.5-flash',
      aliases: [],
      options: {},
    },
    request: { model: 'google/gemini', messages: [{ role: 'user', content: 'Hi' }], stream: true },
    secrets: [KEY],
  };
}

const fixture = fixtureReader(__dirname);
const newParser = () => new GoogleStreamParser(ctx());

/** The fixture gives `expected` whole, and the same at every split of its bytes. */
function expectFixture(name: string, expected: Outcome): void {
  expectOutcomeAtEverySplit('sse', newParser, fixture(name), expected);
}

const { text, thinking, done } = eventsOf(COMPLETION_ID);
const tool = (index: number, name: string, args: string, id = syntheticToolCallId(COMPLETION_ID, index)) =>
  eventsOf(COMPLETION_ID).tool(index, id, name, args);

describe('GoogleStreamParser: recorded-shape streams, whole and split at every byte', () => {
  it('thought summaries, then multi-byte UTF-8 text; usage counts thoughts as completion tokens', () => {
    expectFixture('text-thinking.sse', {
      events: [
        thinking('**Weighing the greeting**\n\nThe user says hi in French; '),
        thinking("I'll answer in kind."),
        text('Bonjour ! Ça va très bien, '),
        text('merci 😀 — 你好'),
        done('stop', 12, 49, 61, 40),
      ],
    });
  });

  it('whole function calls, one event each, numbered in order, with synthetic ids; STOP -> tool_calls', () => {
    expectFixture('tool-calls.sse', {
      events: [
        text('Checking both cities.'),
        tool(0, 'get_weather', '{"city":"Paris"}'),
        tool(1, 'get_weather', '{"city":"Zürich","unit":"celsius"}'),
        done('tool_calls', 57, 34, 91),
      ],
    });
  });

  it('MAX_TOKENS on the last text chunk -> length', () => {
    expectFixture('max-tokens.sse', {
      events: [text('Once upon a time'), text(', there was'), done('length', 5, 8, 13)],
    });
  });

  it('SAFETY with no content -> content_filter', () => {
    expectFixture('safety.sse', { events: [text('Here is how'), done('content_filter', 9, 3, 12)] });
  });

  it('a blocked prompt (promptFeedback.blockReason, no candidates) -> content_filter', () => {
    expectFixture('prompt-blocked.sse', { events: [done('content_filter', 7, 0, 7)] });
  });

  it('an error frame -> its kind by status, with the RetryInfo delay, after the text before it', () => {
    expectFixture('error-frame.sse', {
      events: [text('partial ')],
      error: {
        code: StreamErrorCode.RateLimitExceeded,
        retryable: true,
        retryAfterMs: 22_000,
        status: 429,
        vendorType: 'RESOURCE_EXHAUSTED',
        message:
          'google is rate limiting or overloaded (HTTP 429): Resource has been exhausted (e.g. check quota).',
      },
    });
  });

  it('a clean end before any finishReason -> connection_lost', () => {
    expectFixture('truncated.sse', {
      events: [text('partial '), text('answer')],
      error: {
        code: StreamErrorCode.ConnectionLost,
        retryable: true,
        message: 'google: the stream ended before the answer was finished',
      },
    });
  });

  it('a frame cut off mid-JSON -> invalid_response', () => {
    expectFixture('malformed.sse', {
      events: [text('partial ')],
      error: {
        code: StreamErrorCode.InvalidResponse,
        retryable: false,
        message: expect.stringMatching(/^google: malformed stream frame/) as unknown as string,
      },
    });
  });
});

describe('GoogleStreamParser: frames', () => {
  const play = (...frames: unknown[]): Outcome =>
    replayOutcome('sse', newParser(), [
      Buffer.from(frames.map((f) => `data: ${JSON.stringify(f)}\r\n\r\n`).join('')),
    ]);
  const candidate = (parts: unknown[], finishReason?: string) => ({
    candidates: [{ content: { parts, role: 'model' }, ...(finishReason ? { finishReason } : {}), index: 0 }],
  });

  it("uses the vendor's function call id when it sends one, and {} for absent args", () => {
    expect(
      play(
        candidate([
          { functionCall: { id: 'fc_7', name: 'now' } },
          { functionCall: { name: 'today', args: {} } },
        ]),
        candidate([{ text: '' }], 'STOP'),
      ).events,
    ).toEqual([tool(0, 'now', '{}', 'fc_7'), tool(1, 'today', '{}'), done('tool_calls', 0, 0, 0)]);
  });

  it('keeps the last usage seen, and a frame with only usage emits nothing', () => {
    const outcome = play(
      { ...candidate([{ text: 'a' }]), usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } },
      candidate([{ text: 'b' }], 'STOP'),
      { usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 } },
    );
    expect(outcome.events).toEqual([text('a'), text('b'), done('stop', 3, 2, 5)]);
  });

  it('ignores parts that have no OpenAI form (bare thought signatures, inline data)', () => {
    expect(
      play(
        candidate([
          { text: 'x', thoughtSignature: 'c2ln' },
          { thoughtSignature: 'c2ln' },
          { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
        ]),
        candidate([{ text: '' }], 'STOP'),
      ).events,
    ).toEqual([text('x'), done('stop', 0, 0, 0)]);
  });

  it.each([
    ['a JSON array', [1, 2]],
    ['a JSON string', 'hello'],
    ['null', null],
  ])('a frame that is %s -> invalid_response', (_what, value) => {
    expect(play(value).error).toMatchObject({ code: StreamErrorCode.InvalidResponse, retryable: false });
  });

  it.each([
    [500, 'INTERNAL', StreamErrorCode.ProviderError, true],
    [503, 'UNAVAILABLE', StreamErrorCode.ProviderError, true],
    [504, 'DEADLINE_EXCEEDED', StreamErrorCode.ProviderTimeout, true],
    [400, 'INVALID_ARGUMENT', StreamErrorCode.BadRequest, false],
    [429, 'RESOURCE_EXHAUSTED', StreamErrorCode.RateLimitExceeded, true],
  ])('an error frame %i %s -> %s (retryable %s)', (code, status, kind, retryable) => {
    const outcome = play(candidate([{ text: 'so far' }]), {
      error: { code, message: 'The model failed.', status },
    });
    expect(outcome.events).toEqual([text('so far')]);
    expect(outcome.error).toMatchObject({ code: kind, retryable, status: code });
  });

  it('an error frame naming a bad API key -> authentication_failed, without the vendor text or the key', () => {
    const outcome = play({
      error: {
        code: 400,
        message: `API key not valid: ${KEY}`,
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }],
      },
    });
    expect(outcome.error).toMatchObject({ code: StreamErrorCode.AuthenticationFailed, retryable: false });
    expect(outcome.error?.message).not.toContain(KEY);
    expect(outcome.error?.message).not.toContain('not valid');
  });

  it('scrubs the key from a vendor message passed on', () => {
    const outcome = play({ error: { code: 500, message: `failed for key=${KEY}`, status: 'INTERNAL' } });
    expect(outcome.error?.message).toBe('google failed (HTTP 500): failed for key=[redacted]');
  });

  it('reads nothing after a failure', () => {
    const outcome = play(
      { error: { code: 500, message: 'boom', status: 'INTERNAL' } },
      candidate([{ text: 'late' }]),
    );
    expect(outcome.events).toEqual([]);
    expect(outcome.error?.code).toBe(StreamErrorCode.ProviderError);
  });

  it('stays unfinished until the body ends, then finishes once', () => {
    const parser = new GoogleStreamParser(ctx());
    const out: StreamEvent[] = [];
    parser.frame('message', JSON.stringify(candidate([{ text: 'hi' }], 'STOP')), out);
    expect(parser.finished).toBe(false);
    parser.end(out);
    parser.end(out);
    expect(parser.finished).toBe(true);
    expect(out).toEqual([text('hi'), done('stop', 0, 0, 0)]);
  });
});

describe('geminiFinish', () => {
  it.each([
    ['STOP', false, 'stop'],
    ['STOP', true, 'tool_calls'],
    ['MAX_TOKENS', false, 'length'],
    ['MAX_TOKENS', true, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['BLOCKLIST', false, 'content_filter'],
    ['PROHIBITED_CONTENT', false, 'content_filter'],
    ['SPII', false, 'content_filter'],
    ['IMAGE_SAFETY', false, 'content_filter'],
    ['MALFORMED_FUNCTION_CALL', false, 'stop'],
    ['OTHER', false, 'stop'],
    ['SOMETHING_NEW', true, 'stop'],
  ])('%s (after tool calls: %s) -> %s', (reason, calledTools, expected) => {
    expect(geminiFinish(reason, calledTools)).toBe(expected);
  });
});

describe('geminiUsage', () => {
  it('adds thoughts to the completion and reports them as reasoning tokens', () => {
    expect(
      geminiUsage({
        promptTokenCount: 10,
        candidatesTokenCount: 5,
        thoughtsTokenCount: 20,
        totalTokenCount: 35,
      }),
    ).toEqual({ promptTokens: 10, completionTokens: 25, totalTokens: 35, reasoningTokens: 20 });
  });

  it('without thoughts has no reasoning tokens; a missing total is the sum', () => {
    expect(geminiUsage({ promptTokenCount: 4, candidatesTokenCount: 6 })).toEqual({
      promptTokens: 4,
      completionTokens: 6,
      totalTokens: 10,
    });
  });
});

describe('parseGeminiResponse (non-streaming)', () => {
  it('a whole GenerateContentResponse -> thinking, text, each function call, completed', () => {
    const body = JSON.parse(fixture('generate-content.json').toString('utf8')) as unknown;
    expect(parseGeminiResponse(body, ctx())).toEqual([
      thinking('**Choosing a tool**\n\nThe weather needs a lookup.'),
      text('Let me check — un instant.'),
      tool(0, 'get_weather', '{"city":"Paris"}'),
      done('tool_calls', 31, 82, 113, 60),
    ]);
  });

  it('a candidate without finishReason is a normal stop; no usage is zero usage', () => {
    expect(parseGeminiResponse({ candidates: [{ content: { parts: [{ text: 'ok' }] } }] }, ctx())).toEqual([
      text('ok'),
      done('stop', 0, 0, 0),
    ]);
  });

  it('a blocked prompt -> content_filter', () => {
    expect(
      parseGeminiResponse(
        { promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 2 } },
        ctx(),
      ),
    ).toEqual([done('content_filter', 2, 0, 2)]);
  });

  it.each([
    ['no candidates', {}],
    ['an empty candidates list', { candidates: [] }],
    ['not an object', [{ candidates: [] }]],
    ['a string', 'oops'],
  ])('%s -> invalid_response', (_what, body) => {
    expect(() => parseGeminiResponse(body, ctx())).toThrow(
      expect.objectContaining({ code: StreamErrorCode.InvalidResponse, retryable: false }) as Error,
    );
  });

  it('an error object sent as the answer -> classified like an error frame', () => {
    expect(() =>
      parseGeminiResponse(
        {
          error: {
            code: 429,
            message: 'Slow down.',
            status: 'RESOURCE_EXHAUSTED',
            details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.5s' }],
          },
        },
        ctx(),
      ),
    ).toThrow(
      expect.objectContaining({
        code: StreamErrorCode.RateLimitExceeded,
        retryable: true,
        retryAfterMs: 1500,
      }) as Error,
    );
  });
});
