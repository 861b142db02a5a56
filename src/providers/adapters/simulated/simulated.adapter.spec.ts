import { StreamErrorCode } from '../../../contract/error-code';
import { ModelConfig, ProviderConfig } from '../../../config/app-config';
import type { ChatCompletionRequest } from '../../../contract/chat-request';
import type { StreamEvent } from '../../../contract/stream-event';
import { ProviderError } from '../../provider.error';
import { SimulatedAdapter } from './simulated.adapter';

function provider(overrides: Partial<ProviderConfig> = {}): SimulatedAdapter {
  return new SimulatedAdapter(
    'simulated',
    Object.assign(new ProviderConfig(), { type: 'simulated', ...overrides }),
  );
}

function model(upstream: string, options: Record<string, unknown> = {}): ModelConfig {
  return Object.assign(new ModelConfig(), {
    id: `simulated/${upstream}`,
    provider: 'simulated',
    upstream,
    options,
  });
}

function request(overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return {
    model: 'simulated/echo',
    messages: [{ role: 'user', content: 'Hello there, friend!' }],
    ...overrides,
  };
}

async function collect(
  adapter: SimulatedAdapter,
  upstream: string,
  body: ChatCompletionRequest,
  options: Record<string, unknown> = {},
  signal = new AbortController().signal,
): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of adapter.stream({
    completionId: 'chatcmpl-test',
    model: model(upstream, options),
    body,
    signal,
  })) {
    events.push(event);
  }
  return events;
}

const text = (events: StreamEvent[], type: 'content_chunk' | 'thinking') =>
  events.map((e) => (e.type === type ? e.content : '')).join('');

describe('SimulatedAdapter', () => {
  it('echoes the last user message token by token and counts usage', async () => {
    const events = await collect(provider(), 'echo', request());
    expect(text(events, 'content_chunk')).toBe('Hello there, friend!');
    expect(events.filter((e) => e.type === 'content_chunk')).toHaveLength(5);
    expect(events[events.length - 1]).toEqual({
      type: 'completed',
      completionId: 'chatcmpl-test',
      finishReason: 'stop',
      usage: { promptTokens: 11, completionTokens: 5, totalTokens: 16, reasoningTokens: 0 },
    });
  });

  it('writes deterministic lorem text for a seed and a configured length', async () => {
    const a = text(await collect(provider(), 'lorem', request({ seed: 1 }), { length: 20 }), 'content_chunk');
    const b = text(await collect(provider(), 'lorem', request({ seed: 1 }), { length: 20 }), 'content_chunk');
    const c = text(await collect(provider(), 'lorem', request({ seed: 2 }), { length: 20 }), 'content_chunk');
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a.split(' ')).toHaveLength(20);
    expect(a).toMatch(/^[A-Z].*\.$/);
  });

  it('thinks first when reasoning is requested, and not when it is excluded', async () => {
    const events = await collect(provider(), 'echo', request({ reasoning_effort: 'low' }));
    const firstContent = events.findIndex((e) => e.type === 'content_chunk');
    expect(events.slice(0, firstContent).every((e) => e.type === 'thinking')).toBe(true);
    expect(text(events, 'thinking')).toMatch(/^The user sent \d+ tokens .* repeat the message back/);
    const done = events[events.length - 1];
    expect(done?.type === 'completed' && done.usage.reasoningTokens).toBe(firstContent);

    const hidden = await collect(
      provider(),
      'echo',
      request({ reasoning: { effort: 'high', exclude: true } }),
    );
    expect(hidden.some((e) => e.type === 'thinking')).toBe(false);
  });

  it('calls a tool with streamed arguments built from its schema', async () => {
    const tools: ChatCompletionRequest['tools'] = [
      {
        type: 'function',
        function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } },
      },
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' }, days: { type: 'integer' }, unit: { enum: ['c', 'f'] } },
            required: ['city', 'days', 'unit'],
          },
        },
      },
    ];
    const events = await collect(
      provider(),
      'echo',
      request({ messages: [{ role: 'user', content: 'get_weather for 3 days' }], tools }),
    );
    const calls = events.filter((e) => e.type === 'tool_call');
    expect(calls.length).toBeGreaterThan(3);
    expect(
      new Set(calls.map((c) => c.type === 'tool_call' && `${c.index}:${c.toolCallId}:${c.name}`)).size,
    ).toBe(1);
    expect(calls[0]).toMatchObject({
      index: 0,
      name: 'get_weather',
      toolCallId: expect.stringMatching(/^call_/),
    });
    const args = calls.map((c) => (c.type === 'tool_call' ? c.argumentsDelta : '')).join('');
    expect(JSON.parse(args)).toEqual({ city: 'get_weather for 3 days', days: 3, unit: 'c' });
    expect(events.some((e) => e.type === 'content_chunk')).toBe(false);
    expect(events[events.length - 1]).toMatchObject({ type: 'completed', finishReason: 'tool_calls' });

    const none = await collect(provider(), 'echo', request({ tools, tool_choice: 'none' }));
    expect(none.some((e) => e.type === 'tool_call')).toBe(false);
  });

  it('answers a tool result instead of calling the tool again', async () => {
    const events = await collect(
      provider(),
      'echo',
      request({
        tools: [{ type: 'function', function: { name: 'get_weather' } }],
        messages: [
          { role: 'user', content: 'weather?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21C' },
        ],
      }),
    );
    expect(text(events, 'content_chunk')).toBe('The get_weather tool returned: sunny, 21C');
  });

  it('stops at max tokens with finish_reason length, and before a stop sequence', async () => {
    const long = request({ messages: [{ role: 'user', content: 'one two three four five six' }] });
    const capped = await collect(provider(), 'echo', { ...long, max_tokens: 3 });
    expect(text(capped, 'content_chunk')).toBe('one two three');
    expect(capped[capped.length - 1]).toMatchObject({
      finishReason: 'length',
      usage: { completionTokens: 3 },
    });

    const stopped = await collect(provider(), 'echo', { ...long, stop: [' four', ' three'] });
    expect(text(stopped, 'content_chunk')).toBe('one two');
    expect(stopped[stopped.length - 1]).toMatchObject({ finishReason: 'stop' });
  });

  it('paced (a rate and a first-token delay), it still emits every token, then completed', async () => {
    // How closely the pacing keeps its schedule is a figure, not an assertion: bench/simulated-pacing.ts.
    const adapter = provider({ tokens_per_second: 100, first_token_delay: 50 });
    const events = await collect(adapter, 'echo', request());
    expect(text(events, 'content_chunk')).toBe('Hello there, friend!');
    expect(events.map((e) => e.type)).toEqual([...Array<string>(5).fill('content_chunk'), 'completed']);
  });

  it('stops at once when aborted and records that it observed the abort', async () => {
    const adapter = provider({ tokens_per_second: 200 });
    const controller = new AbortController();
    const seen: StreamEvent[] = [];
    const run = (async () => {
      for await (const event of adapter.stream({
        completionId: 'c',
        model: model('lorem', { length: 1000 }),
        body: request(),
        signal: controller.signal,
      })) {
        seen.push(event);
        if (seen.length === 3) controller.abort(new Error('client went away'));
      }
    })();
    await expect(run).rejects.toThrow('client went away');
    expect(seen).toHaveLength(3);
    expect(adapter.stats).toMatchObject({
      started: 1,
      aborted: 1,
      active: 0,
      completed: 0,
      tokensBeforeAbort: 3,
      tokens: 3,
    });
  });

  it('injects faults after a number of chunks', async () => {
    const adapter = provider();
    const events: StreamEvent[] = [];
    const run = async () => {
      for await (const event of adapter.stream({
        completionId: 'c',
        model: model('echo', { fail_after_chunks: 2, fail_with: StreamErrorCode.RateLimitExceeded }),
        body: request(),
        signal: new AbortController().signal,
      })) {
        events.push(event);
      }
    };
    await expect(run()).rejects.toEqual(expect.any(ProviderError));
    await expect(run()).rejects.toMatchObject({
      code: 'rate_limit_exceeded',
      retryable: true,
      provider: 'simulated',
    });
    expect(events.filter((e) => e.type === 'content_chunk')).toHaveLength(4);
    expect(adapter.stats).toMatchObject({ failed: 2, active: 0 });
  });

  it('checks model entries at boot', () => {
    expect(provider().checkModel(model('echo'))).toEqual([]);
    expect(
      provider().checkModel(
        model('chatty', {
          tokens_per_second: -1,
          first_token_delay: 'soon',
          fail_with: 'boom',
          colour: 'red',
        }),
      ),
    ).toEqual([
      'upstream: unknown simulated model "chatty" (use echo or lorem)',
      'options.colour: unknown option',
      'options.tokens_per_second: must be a number >= 0',
      'options.first_token_delay: must be a duration like "100ms"',
      expect.stringMatching(/^options\.fail_with: must be one of connection_lost, /),
    ]);
  });
});
