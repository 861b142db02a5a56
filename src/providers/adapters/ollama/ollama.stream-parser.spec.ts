import { StreamErrorCode } from '../../../contract/error-code';
import { ModelConfig } from '../../../config/app-config';
import type { ParseContext } from '../../http/vendor-codec';
import { httpStatusError } from '../../http/upstream-errors';
import { providerErrorOf } from '../../testing/errors';
import { eventsOf } from '../../testing/events';
import { expectOutcomeAtEverySplit, fixtureReader, type Outcome, replayOutcome } from '../../testing/replay';
import { ollamaErrorInfo, OllamaStreamParser, parseOllamaResponse } from './ollama.stream-parser';

const ID = 'chatcmpl-0123456789abcdef0123';

function ctx(): ParseContext {
  return {
    completionId: ID,
    provider: 'ollama',
    model: Object.assign(new ModelConfig(), {
      id: 'ollama/qwen3:8b',
      provider: 'ollama',
      upstream: 'qwen3:8b',
    }),
    request: { model: 'ollama/qwen3:8b', messages: [{ role: 'user', content: 'Hi' }] },
    secrets: ['sk-proxy-secret-123456'],
  };
}

const fixture = fixtureReader(__dirname);
const newParser = () => new OllamaStreamParser(ctx());

/** Feeds chunks exactly as HttpProviderAdapter does (see replay). */
function run(chunks: Uint8Array[]): Outcome {
  return replayOutcome('ndjson', newParser(), chunks);
}

/** The fixture whole gives `expected`, and so does every split of its bytes. */
function expectFixture(name: string, expected: Outcome): void {
  expectOutcomeAtEverySplit('ndjson', newParser, fixture(name), expected);
}

const { text, thinking, done } = eventsOf(ID);

describe('OllamaStreamParser (fixtures, whole and split at every byte)', () => {
  it('text with multi-byte UTF-8, skipping empty content, completed with the counts', () => {
    expectFixture('text.ndjson', {
      events: [text('Bonjour'), text(', '), text('le café'), text(' 😀 中文'), done('stop', 26, 5, 31)],
    });
  });

  it('message.thinking as thinking, before the answer', () => {
    expectFixture('thinking.ndjson', {
      events: [
        thinking('The user'),
        thinking(' wants a number—'),
        thinking(' 42.'),
        text('It is '),
        text('42.'),
        done('stop', 18, 31, 49),
      ],
    });
  });

  it('whole tool calls with object arguments, a running index across lines, ids kept or made up', () => {
    expectFixture('tool-calls.ndjson', {
      events: [
        thinking('I need the weather.'),
        {
          type: 'tool_call',
          completionId: ID,
          index: 0,
          toolCallId: 'call_k3f9x2ab',
          name: 'get_weather',
          argumentsDelta: '{"city":"Paris","unit":"celsius"}',
        },
        {
          type: 'tool_call',
          completionId: ID,
          index: 1,
          toolCallId: 'call_456789abcdef0123_1',
          name: 'get_time',
          argumentsDelta: '{"zone":"Europe/Paris"}',
        },
        {
          // Ollama's own function.index restarts at 0 on this line; the stream's index does not.
          type: 'tool_call',
          completionId: ID,
          index: 2,
          toolCallId: 'call_456789abcdef0123_2',
          name: 'lookup',
          argumentsDelta: '{"q":"Zürich ☀"}',
        },
        done('tool_calls', 140, 52, 192),
      ],
    });
  });

  it('done_reason length -> length', () => {
    expectFixture('length.ndjson', {
      events: [text('Once upon'), text(' a time'), done('length', 12, 4, 16)],
    });
  });

  it('an {"error"} line -> retryable provider_error with the vendor text, after the content before it', () => {
    expectFixture('error-midstream.ndjson', {
      events: [text('partial '), text('answer')],
      error: {
        code: StreamErrorCode.ProviderError,
        retryable: true,
        message: 'ollama failed: an error was encountered while running the model: unexpected EOF',
      },
    });
  });

  it('a cut-off line -> invalid_response (not retryable), after the content before it', () => {
    const outcome = run([fixture('malformed.ndjson')]);
    expect(outcome.error).toMatchObject({ code: StreamErrorCode.InvalidResponse, retryable: false });
    expect(outcome.error?.message).toMatch(/^ollama: malformed stream frame/);
    expectFixture('malformed.ndjson', outcome);
    expect(outcome.events).toEqual([text('partial '), text('answer')]);
  });

  it('a body that ends without done:true -> retryable connection_lost', () => {
    expectFixture('truncated.ndjson', {
      events: [text('partial '), text('answer')],
      error: {
        code: StreamErrorCode.ConnectionLost,
        retryable: true,
        message: 'ollama: the stream ended before the answer was finished',
      },
    });
  });
});

describe('OllamaStreamParser (lines)', () => {
  const lines = (...values: unknown[]) =>
    run([Buffer.from(values.map((v) => `${JSON.stringify(v)}\n`).join(''))]);

  it('ignores what follows the done line', () => {
    const outcome = lines(
      { message: { role: 'assistant', content: 'a' }, done: false },
      { message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', eval_count: 1 },
      { message: { role: 'assistant', content: 'after' }, done: false },
    );
    expect(outcome.events.map((e) => e.type)).toEqual(['content_chunk', 'completed']);
  });

  it('load, unload and unknown done reasons are a stop; missing counts are 0', () => {
    for (const reason of ['load', 'unload', 'whatever', undefined]) {
      const outcome = lines({ message: { role: 'assistant', content: '' }, done: true, done_reason: reason });
      expect(outcome.events).toEqual([done('stop', 0, 0, 0)]);
    }
  });

  it('a tool call with a missing reason still finishes as tool_calls; length wins over tool calls', () => {
    const call = { function: { name: 'f', arguments: {} } };
    const noReason = lines({ message: { role: 'assistant', content: '', tool_calls: [call] }, done: true });
    expect(noReason.events.at(-1)).toMatchObject({ finishReason: 'tool_calls' });
    expect(noReason.events[0]).toMatchObject({ argumentsDelta: '{}' });
    const cut = lines({ message: { content: '', tool_calls: [call] }, done: true, done_reason: 'length' });
    expect(cut.events.at(-1)).toMatchObject({ finishReason: 'length' });
  });

  it('a line that is JSON but not an object, or a tool call without a name -> invalid_response', () => {
    expect(lines([1, 2]).error).toMatchObject({ code: StreamErrorCode.InvalidResponse, retryable: false });
    expect(lines('text').error).toMatchObject({ code: StreamErrorCode.InvalidResponse });
    const nameless = lines({ message: { content: '', tool_calls: [{ function: { arguments: {} } }] } });
    expect(nameless.error).toMatchObject({ code: StreamErrorCode.InvalidResponse });
    const notList = lines({ message: { content: '', tool_calls: { function: { name: 'f' } } } });
    expect(notList.error).toMatchObject({ code: StreamErrorCode.InvalidResponse });
  });

  it('scrubs configured secrets from an in-stream error', () => {
    const outcome = lines({ error: 'proxy refused sk-proxy-secret-123456' });
    expect(outcome.error?.message).toBe('ollama failed: proxy refused [redacted]');
  });
});

describe('parseOllamaResponse (stream: false)', () => {
  it('one done:true object -> thinking, content, tool calls, completed', () => {
    const events = parseOllamaResponse(
      {
        model: 'qwen3:8b',
        created_at: '2026-01-15T10:22:00.460Z',
        message: {
          role: 'assistant',
          content: 'Checking.',
          thinking: 'Weather needed.',
          tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }],
        },
        done_reason: 'stop',
        done: true,
        total_duration: 912345678,
        prompt_eval_count: 20,
        eval_count: 8,
      },
      ctx(),
    );
    expect(events).toEqual([
      thinking('Weather needed.'),
      text('Checking.'),
      {
        type: 'tool_call',
        completionId: ID,
        index: 0,
        toolCallId: 'call_456789abcdef0123_0',
        name: 'get_weather',
        argumentsDelta: '{"city":"Paris"}',
      },
      done('tool_calls', 20, 8, 28),
    ]);
  });

  it('an {"error"} body -> provider_error; not an object or not done -> invalid_response', () => {
    expect(
      providerErrorOf(() => parseOllamaResponse({ error: 'model runner crashed' }, ctx())),
    ).toMatchObject({
      code: StreamErrorCode.ProviderError,
      retryable: true,
      message: 'ollama failed: model runner crashed',
    });
    expect(providerErrorOf(() => parseOllamaResponse(['x'], ctx()))).toMatchObject({
      code: StreamErrorCode.InvalidResponse,
    });
    const unfinished = { message: { role: 'assistant', content: 'hi' }, done: false };
    expect(providerErrorOf(() => parseOllamaResponse(unfinished, ctx()))).toMatchObject({
      code: StreamErrorCode.InvalidResponse,
    });
  });
});

describe('ollamaErrorInfo and the classification of Ollama HTTP errors', () => {
  const classify = (status: number, body: unknown, retryAfterMs?: number) => {
    const error = httpStatusError('ollama', status, { ...ollamaErrorInfo(body), retryAfterMs }, []);
    return {
      code: error.code,
      retryable: error.retryable,
      retryAfterMs: error.retryAfterMs,
      message: error.message,
    };
  };

  it('reads {"error":"<text>"}, an OpenAI-shaped body from a proxy, or plain text', () => {
    expect(ollamaErrorInfo({ error: "model 'x' not found" })).toEqual({ message: "model 'x' not found" });
    expect(ollamaErrorInfo({ error: { message: 'upstream said no' } })).toEqual({
      message: 'upstream said no',
    });
    expect(ollamaErrorInfo('<html>502 Bad Gateway</html>')).toEqual({
      message: '<html>502 Bad Gateway</html>',
    });
    expect(ollamaErrorInfo({ error: '' })).toEqual({});
    expect(ollamaErrorInfo('')).toEqual({});
  });

  it.each([
    [401, { error: 'unauthorized' }, undefined, StreamErrorCode.AuthenticationFailed, false],
    [403, { error: 'forbidden' }, undefined, StreamErrorCode.AuthenticationFailed, false],
    [429, { error: 'too many requests' }, 7000, StreamErrorCode.RateLimitExceeded, true],
    [
      503,
      { error: 'server busy, please try again.  maximum pending requests exceeded' },
      undefined,
      StreamErrorCode.ProviderError,
      true,
    ],
    [
      500,
      { error: 'llama runner process has terminated: exit status 2' },
      undefined,
      StreamErrorCode.ProviderError,
      true,
    ],
    [400, { error: 'invalid options: num_predict' }, undefined, StreamErrorCode.BadRequest, false],
    [404, { error: "model 'llama9' not found" }, undefined, StreamErrorCode.ProviderError, false],
  ])('HTTP %i %j -> kind, retryable, retry delay', (status, body, retryAfterMs, code, retryable) => {
    expect(classify(status, body, retryAfterMs)).toMatchObject({ code, retryable, retryAfterMs });
  });

  it('never forwards the text of an auth failure; passes on the others', () => {
    expect(classify(401, { error: 'unauthorized: token sk-abcdefgh12345' }).message).not.toContain('sk-');
    expect(classify(503, { error: 'server busy, please try again.' }).message).toContain('server busy');
    expect(classify(404, { error: "model 'llama9' not found" }).message).toContain(
      "model 'llama9' not found",
    );
  });
});
