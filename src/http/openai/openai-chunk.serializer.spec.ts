import { StreamErrorCode } from '../../contract/error-code';
import type { StreamEvent } from '../../contract/stream-event';
import { OpenAiChunkSerializer } from './openai-chunk.serializer';

const identity = {
  completionId: 'chatcmpl-1',
  created: 1700000000,
  model: 'simulated/echo',
  provider: 'simulated',
};
const id = identity.completionId;

function framesOf(serializer: OpenAiChunkSerializer, events: StreamEvent[]): unknown[] {
  const text = events.map((e) => serializer.frame(e)).join('');
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((frame) => {
      expect(frame.startsWith('data: ')).toBe(true);
      return JSON.parse(frame.slice(6)) as unknown;
    });
}

describe('OpenAiChunkSerializer', () => {
  it('emits the role chunk once, then deltas whose JSON stays valid for any text', () => {
    const tricky = 'quote " backslash \\ newline \n tab \t unicode é😀 \u2028 control \u0001';
    const frames = framesOf(new OpenAiChunkSerializer(identity, false), [
      { type: 'content_chunk', completionId: id, content: tricky, index: 0 },
      { type: 'thinking', completionId: id, content: 'why' },
    ]);
    expect(frames).toEqual([
      expect.objectContaining({
        choices: [
          { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
        ],
      }),
      expect.objectContaining({
        choices: [{ index: 0, delta: { content: tricky }, logprobs: null, finish_reason: null }],
      }),
      expect.objectContaining({
        choices: [{ index: 0, delta: { reasoning: 'why' }, logprobs: null, finish_reason: null }],
      }),
    ]);
    expect(frames[0]).toEqual({
      id,
      object: 'chat.completion.chunk',
      created: 1700000000,
      model: 'simulated/echo',
      provider: 'simulated',
      system_fingerprint: null,
      choices: expect.any(Array),
    });
  });

  it('announces a tool call with id, type and name once per index, then only argument fragments', () => {
    const call = (index: number, args: string): StreamEvent => ({
      type: 'tool_call',
      completionId: id,
      index,
      toolCallId: `call_${index}`,
      name: `fn${index}`,
      argumentsDelta: args,
    });
    const frames = framesOf(new OpenAiChunkSerializer(identity, false), [
      call(0, ''),
      call(0, '{"a"'),
      call(1, '{}'),
      call(0, ':1}'),
    ]) as Array<{
      choices: Array<{ delta: unknown }>;
    }>;
    expect(frames.slice(1).map((f) => f.choices[0]?.delta)).toEqual([
      {
        tool_calls: [{ index: 0, id: 'call_0', type: 'function', function: { name: 'fn0', arguments: '' } }],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] },
      {
        tool_calls: [
          { index: 1, id: 'call_1', type: 'function', function: { name: 'fn1', arguments: '{}' } },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] },
    ]);
  });

  it('ends with a finish chunk and, when asked, a usage chunk with empty choices', () => {
    const completed: StreamEvent = {
      type: 'completed',
      completionId: id,
      finishReason: 'length',
      usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7, reasoningTokens: 1 },
    };
    const withUsage = framesOf(new OpenAiChunkSerializer(identity, true), [completed]);
    expect(withUsage.slice(1)).toEqual([
      expect.objectContaining({
        choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'length' }],
        usage: null,
      }),
      expect.objectContaining({
        choices: [],
        usage: {
          prompt_tokens: 3,
          completion_tokens: 4,
          total_tokens: 7,
          completion_tokens_details: { reasoning_tokens: 1 },
        },
      }),
    ]);
    const without = framesOf(new OpenAiChunkSerializer(identity, false), [completed]);
    expect(without).toHaveLength(2);
    expect(without[1]).not.toHaveProperty('usage');
  });

  it('writes an error as an OpenAI error object with no choices and no role chunk', () => {
    const frames = framesOf(new OpenAiChunkSerializer(identity, false), [
      {
        type: 'error',
        completionId: id,
        error: { code: StreamErrorCode.ProviderTimeout, message: 'too slow', retryable: true },
      },
    ]);
    expect(frames).toEqual([
      { error: { message: 'too slow', type: 'upstream_error', param: null, code: 'provider_timeout' } },
    ]);
  });

  it('names the dead letter in the error frame of a dead-lettered stream', () => {
    const frames = framesOf(new OpenAiChunkSerializer(identity, false), [
      {
        type: 'error',
        completionId: id,
        error: {
          code: StreamErrorCode.ProviderError,
          message: 'gone',
          retryable: true,
          deadLetterId: 'dl-0123456789abcdef0123456789abcdef',
        },
      },
    ]);
    expect(frames).toEqual([
      {
        error: {
          message: 'gone',
          type: 'upstream_error',
          param: null,
          code: 'provider_error',
          dead_letter_id: 'dl-0123456789abcdef0123456789abcdef',
        },
      },
    ]);
  });
});
