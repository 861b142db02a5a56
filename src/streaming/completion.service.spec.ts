import { Test } from '@nestjs/testing';
import pino from 'pino';
import { MetricsService } from '../analytics/metrics.service';
import { CompletionError, StreamErrorCode } from '../common/errors/error-code';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { loadConfig } from '../config/config.loader';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { FakeAdapter, type FakeStep, fakeModel } from '../providers/provider-adapter.fake';
import { ProviderError } from '../providers/provider.error';
import { RoutingService } from '../routing/routing.service';
import { ActiveStreams } from './active-streams.service';
import type { ChatCompletionRequest } from './chat-request';
import { CompletionService, type CompletionContext } from './completion.service';
import type { StreamEvent } from './stream-event';

const request: ChatCompletionRequest = { model: 'fake/model', messages: [{ role: 'user', content: 'hi' }] };
const usage = { promptTokens: 1, completionTokens: 2, totalTokens: 3 };
const done: FakeStep = { type: 'completed', finishReason: 'stop', usage };

interface Harness {
  service: CompletionService;
  active: ActiveStreams;
  lifecycle: LifecycleService;
  adapter: FakeAdapter;
}

async function harness(script: FakeStep[], overrides: Record<string, unknown>[] = []): Promise<Harness> {
  const adapter = new FakeAdapter(script);
  const moduleRef = await Test.createTestingModule({
    providers: [
      CompletionService,
      ActiveStreams,
      LifecycleService,
      MetricsService,
      { provide: AppConfig, useValue: loadConfig({ env: {}, overrides }) },
      { provide: ROOT_LOGGER, useValue: pino({ level: 'silent' }) },
      { provide: RoutingService, useValue: { plan: () => [{ model: fakeModel(), adapter }] } },
    ],
  }).compile();
  return {
    service: moduleRef.get(CompletionService),
    active: moduleRef.get(ActiveStreams),
    lifecycle: moduleRef.get(LifecycleService),
    adapter,
  };
}

const ctx = (signal?: AbortSignal): CompletionContext => ({ requestId: 'r1', protocol: 'sse', signal });

async function drain(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

const types = (events: StreamEvent[]) =>
  events.map((e) => (e.type === 'error' ? `error:${e.error.code}` : e.type));

describe('CompletionService', () => {
  it('passes provider events through, stamped with the completion id, ending with one completed', async () => {
    const h = await harness([
      { type: 'content_chunk', content: 'a', index: 0 },
      { type: 'thinking', content: 't' },
      done,
    ]);
    const stream = h.service.start(request, ctx());
    expect(stream).toMatchObject({
      model: 'fake/model',
      provider: 'fake',
      completionId: expect.stringMatching(/^chatcmpl-/),
    });
    const events = await drain(stream);
    expect(types(events)).toEqual(['content_chunk', 'thinking', 'completed']);
    expect(events.every((e) => e.completionId === stream.completionId)).toBe(true);
    expect(h.adapter.seen[0]?.completionId).toBe(stream.completionId);
    expect(h.active.size).toBe(0);
  });

  it('turns a classified provider failure into one error event carrying its kind', async () => {
    const h = await harness([
      { type: 'content_chunk', content: 'a', index: 0 },
      {
        throws: new ProviderError(StreamErrorCode.RateLimitExceeded, 'slow down', 'fake', {
          retryable: true,
          retryAfterMs: 2000,
        }),
      },
    ]);
    const events = await drain(h.service.start(request, ctx()));
    expect(events[1]).toEqual({
      type: 'error',
      completionId: events[0]!.completionId,
      error: { code: 'rate_limit_exceeded', message: 'slow down', retryable: true, retryAfterMs: 2000 },
    });
  });

  it('never leaks an unexpected error message to the client', async () => {
    const h = await harness([{ throws: new Error('socket to 10.0.0.5 failed, key sk-secret') }]);
    const events = await drain(h.service.start(request, ctx()));
    expect(events).toEqual([
      expect.objectContaining({
        type: 'error',
        error: { code: 'internal_error', message: 'The provider failed unexpectedly.', retryable: true },
      }),
    ]);
  });

  it('ends a stream the provider stopped without completing with invalid_response', async () => {
    const h = await harness([{ type: 'content_chunk', content: 'a', index: 0 }]);
    expect(types(await drain(h.service.start(request, ctx())))).toEqual([
      'content_chunk',
      'error:invalid_response',
    ]);
  });

  it('ignores anything a provider sends after its terminal event', async () => {
    const h = await harness([done, { type: 'content_chunk', content: 'late', index: 0 }, done]);
    expect(types(await drain(h.service.start(request, ctx())))).toEqual(['completed']);
    expect(h.adapter.closed).toBe(true);
  });

  it('aborts the provider when the client signal aborts, ending with cancelled', async () => {
    const h = await harness([
      { type: 'content_chunk', content: 'a', index: 0 },
      { hangUntilAborted: true },
      done,
    ]);
    const client = new AbortController();
    const events: StreamEvent[] = [];
    for await (const event of h.service.start(request, ctx(client.signal))) {
      events.push(event);
      if (event.type === 'content_chunk') client.abort();
    }
    expect(types(events)).toEqual(['content_chunk', 'error:cancelled']);
    expect(h.adapter.abortObserved).toBe(true);
    expect(h.active.size).toBe(0);
  });

  it('ends every stream with the drain error when the node aborts them all', async () => {
    const h = await harness([{ hangUntilAborted: true }]);
    const running = drain(h.service.start(request, ctx()));
    await new Promise((r) => setImmediate(r));
    expect(h.active.size).toBe(1);
    h.active.abortAll(
      new CompletionError(StreamErrorCode.ServiceUnavailable, 'draining', { retryable: true }),
    );
    const events = await running;
    expect(events).toEqual([
      expect.objectContaining({
        error: { code: 'service_unavailable', message: 'draining', retryable: true },
      }),
    ]);
  });

  it('releases the stream when the consumer stops early', async () => {
    const h = await harness([
      { type: 'content_chunk', content: 'a', index: 0 },
      { type: 'content_chunk', content: 'b', index: 0 },
      done,
    ]);
    for await (const event of h.service.start(request, ctx())) {
      expect(event.type).toBe('content_chunk');
      break;
    }
    expect(h.active.size).toBe(0);
    expect(h.adapter.closed).toBe(true);
  });

  it('refuses new work once the node refuses it', async () => {
    const h = await harness([done]);
    h.lifecycle.refuseNewWork();
    let thrown: unknown;
    try {
      h.service.start(request, ctx());
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'service_unavailable', retryable: true, retryAfterMs: 1000 });
  });

  it('coalesces tiny deltas when buffering is on, never delaying the first one', async () => {
    const step = (content: string): FakeStep => ({ type: 'content_chunk', content, index: 0 });
    const h = await harness(
      [step('He'), step('l'), step('l'), step('o'), { sleepMs: 60 }, step('!'), done],
      [
        {
          streaming: {
            buffering: { batch_similar_events: true, max_buffer_time: '20ms', content_chunk_size: '1KB' },
          },
        },
      ],
    );
    const events = await drain(h.service.start(request, ctx()));
    expect(events.map((e) => (e.type === 'content_chunk' ? e.content : e.type))).toEqual([
      'He',
      'llo',
      '!',
      'completed',
    ]);
  });

  describe('complete()', () => {
    it('aggregates content, reasoning and tool calls', async () => {
      const h = await harness([
        { type: 'thinking', content: 'hmm' },
        { type: 'tool_call', index: 0, toolCallId: 'call_1', name: 'f', argumentsDelta: '{"a"' },
        { type: 'tool_call', index: 0, toolCallId: 'call_1', name: 'f', argumentsDelta: ':1}' },
        { type: 'completed', finishReason: 'tool_calls', usage },
      ]);
      const result = await h.service.complete(request, ctx());
      expect(result).toMatchObject({
        content: null,
        reasoning: 'hmm',
        toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
        finishReason: 'tool_calls',
        usage,
      });
    });

    it('throws the stream error as a CompletionError', async () => {
      const h = await harness([
        { throws: new ProviderError(StreamErrorCode.AuthenticationFailed, 'bad key', 'fake') },
      ]);
      await expect(h.service.complete(request, ctx())).rejects.toMatchObject({
        code: 'authentication_failed',
        message: 'bad key',
      });
    });

    it('stops a completion that holds more than max_memory_per_stream', async () => {
      const big: FakeStep = { type: 'content_chunk', content: 'x'.repeat(600), index: 0 };
      const h = await harness(
        [big, big, done],
        [{ streaming: { performance: { max_memory_per_stream: '1KB' } } }],
      );
      await expect(h.service.complete(request, ctx())).rejects.toMatchObject({
        code: 'memory_limit_exceeded',
      });
      expect(h.active.size).toBe(0);
    });
  });
});
