import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StreamErrorCode } from '../../../contract/error-code';
import type { ModelConfig } from '../../../config/app-config';
import type { ParseContext } from '../../http/vendor-codec';
import { ProviderError } from '../../provider.error';
import { eventsOf } from '../../testing/events';
import { expectSameAtEverySplit, replay } from '../../testing/replay';
import { OpenAiStreamParser, parseOpenAiResponse } from './openai.stream-parser';

const fixture = (name: string) => readFileSync(join(__dirname, '__fixtures__', name));

const MODEL: ModelConfig = {
  id: 'openai/gpt-4o',
  provider: 'openai',
  upstream: 'gpt-4o',
  aliases: [],
  options: {},
};
const ctx: ParseContext = {
  completionId: 'chatcmpl-test',
  provider: 'openai',
  model: MODEL,
  request: { model: 'openai/gpt-4o', messages: [] },
  secrets: ['sk-abcdefghijklmnop'],
};
const newParser = () => new OpenAiStreamParser(ctx);
const completionId = ctx.completionId;

describe('OpenAiStreamParser', () => {
  it('translates reasoning, content, two tool calls and usage, identically at every byte split', () => {
    const { tool } = eventsOf(completionId);
    expectSameAtEverySplit('sse', newParser, fixture('tools-reasoning-usage.sse'), {
      events: [
        { type: 'thinking', completionId, content: 'Weather needs a tool. ' },
        { type: 'content_chunk', completionId, content: 'Checking Zürich ☀️', index: 0 },
        tool(0, 'call_abc', 'get_weather', ''),
        tool(0, 'call_abc', 'get_weather', '{"city":'),
        tool(0, 'call_abc', 'get_weather', '"Zürich"}'),
        tool(1, 'call_def', 'get_time', '{}'),
        {
          type: 'completed',
          completionId,
          finishReason: 'tool_calls',
          usage: { promptTokens: 42, completionTokens: 17, totalTokens: 59, reasoningTokens: 5 },
        },
      ],
    });
  });

  it('keeps the content before an error frame, then fails with a scrubbed provider_error', () => {
    const expected = {
      events: [
        { type: 'content_chunk' as const, completionId, content: 'Hello', index: 0 },
        { type: 'content_chunk' as const, completionId, content: ' world', index: 0 },
      ],
      error: new ProviderError(StreamErrorCode.ProviderError, '', 'openai', { retryable: true }),
    };
    expectSameAtEverySplit('sse', newParser, fixture('error-frame.sse'), expected);
    const { error } = replay('sse', newParser(), [fixture('error-frame.sse')]);
    expect((error as Error).message).toContain('The server had an error');
    expect((error as Error).message).not.toContain('sk-abcdefghijklmnop');
  });

  it("classifies OpenRouter's mid-stream error with a numeric code as a rate limit", () => {
    const { events, error } = replay('sse', newParser(), [fixture('openrouter-midstream-error.sse')]);
    expect(events).toEqual([{ type: 'content_chunk', completionId, content: 'Par', index: 0 }]);
    expect(error).toMatchObject({ code: StreamErrorCode.RateLimitExceeded, retryable: true, status: 429 });
  });

  it('fails a malformed frame as invalid_response, without quoting it', () => {
    const { error } = replay('sse', newParser(), [
      Buffer.from('data: {"choices":[{"delta":{"content":"secret\n\n'),
    ]);
    expect(error).toMatchObject({ code: StreamErrorCode.InvalidResponse, retryable: false });
    expect((error as Error).message).not.toContain('secret');
  });

  it('fails a stream that ends before any finish_reason as connection_lost', () => {
    const { events, error } = replay('sse', newParser(), [
      Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'),
    ]);
    expect(events).toHaveLength(1);
    expect(error).toMatchObject({ code: StreamErrorCode.ConnectionLost, retryable: true });
  });

  it('completes a stream that has a finish_reason but no [DONE] (lenient servers), with zero usage', () => {
    const { events, error } = replay('sse', newParser(), [
      Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"length"}]}\n\n'),
    ]);
    expect(error).toBeUndefined();
    expect(events.at(-1)).toEqual({
      type: 'completed',
      completionId,
      finishReason: 'length',
      usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    });
  });

  it('reads vLLM-style reasoning_content, ignores data after [DONE], and maps unknown finish reasons to stop', () => {
    const { events } = replay('sse', newParser(), [
      Buffer.from(
        'data: {"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}\n\n' +
          'data: {"choices":[{"index":0,"delta":{},"finish_reason":"eos"}]}\n\ndata: [DONE]\n\ndata: {"choices":[{"delta":{"content":"late"}}]}\n\n',
      ),
    ]);
    expect(events).toEqual([
      { type: 'thinking', completionId, content: 'hmm' },
      {
        type: 'completed',
        completionId,
        finishReason: 'stop',
        usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
      },
    ]);
  });
});

describe('parseOpenAiResponse', () => {
  it('turns a whole chat.completion into events', () => {
    const events = parseOpenAiResponse(
      {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              reasoning: 'think',
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      },
      ctx,
    );
    expect(events).toEqual([
      { type: 'thinking', completionId, content: 'think' },
      {
        type: 'tool_call',
        completionId,
        index: 0,
        toolCallId: 'call_1',
        name: 'f',
        argumentsDelta: '{"a":1}',
      },
      {
        type: 'completed',
        completionId,
        finishReason: 'tool_calls',
        usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 },
      },
    ]);
  });

  it('rejects a body without choices as invalid_response and an error body by its type', () => {
    expect(() => parseOpenAiResponse({ id: 'x' }, ctx)).toThrow(
      expect.objectContaining({ code: StreamErrorCode.InvalidResponse }) as Error,
    );
    expect(() =>
      parseOpenAiResponse({ error: { message: 'slow down', type: 'rate_limit_error' } }, ctx),
    ).toThrow(expect.objectContaining({ code: StreamErrorCode.RateLimitExceeded }) as Error);
  });
});
