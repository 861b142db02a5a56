import { Test, type TestingModule } from '@nestjs/testing';
import pino from 'pino';
import { MetricsService } from '../analytics/metrics.service';
import { CompletionError, StreamErrorCode } from '../contract/error-code';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { loadConfig } from '../config/config.loader';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { ProviderAdapterFake, type FakeStep, fakeModel } from '../providers/provider-adapter.fake';
import { ProviderError } from '../providers/provider.error';
import { ProviderRegistry } from '../providers/provider-registry.service';
import { ProviderKeys } from '../contract/provider-keys';
import { DeadLetterService } from '../dead-letter/dead-letter.service';
import { CircuitBreakerService } from '../routing/circuit-breaker.service';
import { FailoverExecutor } from '../routing/failover-executor';
import { LatencyTracker } from '../routing/latency-tracker.service';
import { ProviderHealth } from '../routing/provider-health.service';
import { RoutingService } from '../routing/routing.service';
import { ActiveStreams } from './active-streams.service';
import type { ChatCompletionRequest } from '../contract/chat-request';
import { SanitizationService } from '../sanitization/sanitization.service';
import { CompletionService, type CompletionCaller } from './completion.service';
import type { StreamEvent } from '../contract/stream-event';
import { waitFor } from '../common/testing/wait-for';
import { EventBus } from '../events/event-bus.service';
import { RedisService } from '../redis/redis.service';
import { StreamHub } from './hub/stream-hub.service';

const request: ChatCompletionRequest = { model: 'fake/model', messages: [{ role: 'user', content: 'hi' }] };
const streamRequest: ChatCompletionRequest = { ...request, stream: true };
const usage = { promptTokens: 1, completionTokens: 2, totalTokens: 3 };
const done: FakeStep = { type: 'completed', finishReason: 'stop', usage };

interface Harness {
  service: CompletionService;
  active: ActiveStreams;
  lifecycle: LifecycleService;
  adapter: ProviderAdapterFake;
  adapters: ProviderAdapterFake[];
  circuits: FakeCircuits;
  letters: unknown[];
  deadLetters: FakeDeadLetters;
  health: ProviderHealth;
  latency: LatencyTracker;
  /** The caller keys each plan was asked with. */
  plannedKeys: Array<ProviderKeys | undefined>;
}

/** Circuits as routing sees them: everything allowed unless listed as open; outcomes recorded. */
class FakeCircuits {
  readonly open = new Set<string>();
  readonly records: Array<{ provider: string; ok: boolean }> = [];
  readonly releases: string[] = [];
  admits = 0;
  /** Admissions are half-open trials. */
  trials = false;
  /** Each admit waits for this (a Redis round trip the test holds open), when set. */
  admitGate: Promise<void> | undefined;
  async admit(
    provider: string,
  ): Promise<{ allowed: boolean; trial: boolean; state: string; retryAfterMs?: number }> {
    this.admits++;
    if (this.admitGate) await this.admitGate;
    const open = this.open.has(provider);
    return {
      allowed: !open,
      trial: !open && this.trials,
      state: open ? 'open' : 'closed',
      retryAfterMs: open ? 5000 : undefined,
    };
  }
  isOpen(provider: string): boolean {
    return this.open.has(provider);
  }
  record(provider: string, _model: string, ok: boolean): Promise<void> {
    this.records.push({ provider, ok });
    return Promise.resolve();
  }
  release(provider: string): Promise<void> {
    this.releases.push(provider);
    return Promise.resolve();
  }
}

/**
 * Dead letters as the completion path sees them: each recorded letter is kept, and is durable at once unless
 * `hold` is set (then when release() is called) or `lose` (then it was stored nowhere).
 */
class FakeDeadLetters {
  readonly letters: unknown[] = [];
  hold = false;
  lose = false;
  private readonly held: Array<() => void> = [];

  recordDurably(letter: unknown): Promise<{ id: string; storedAs: 'queue' | 'lost' }> {
    this.letters.push(letter);
    const id = `dl-${String(this.letters.length).padStart(32, '0')}`;
    const recorded = { id, storedAs: this.lose ? ('lost' as const) : ('queue' as const) };
    if (!this.hold) return Promise.resolve(recorded);
    return new Promise((resolve) => this.held.push(() => resolve(recorded)));
  }

  get waiting(): number {
    return this.held.length;
  }

  release(): void {
    for (const release of this.held.splice(0)) release();
  }
}

/** Provider keys as the registry parses them, for a chain of fake providers. */
const fakeRegistry: Pick<ProviderRegistry, 'parseKeys'> = {
  parseKeys: (header, field) => ProviderKeys.parse(header, new Set(['a', 'b', 'c', 'd', 'fake']), field),
};

/** Quick retries so failover tests do not wait on the shipped backoff. */
const FAST: Record<string, unknown> = {
  // The stream hub mirrors to the real Redis, under a prefix of its own.
  redis: { key_prefix: 'cbtest-completion-spec:' },
  streaming: { error_handling: { retry_delay: '1ms', max_retry_delay: '2ms' } },
  // Routing and recovery are tested on raw events; sanitization has its own cases below.
  sanitization: { enabled: false },
};

const modules: TestingModule[] = [];
afterAll(async () => {
  await Promise.all(modules.map((m) => m.close()));
});

async function harness(script: FakeStep[], overrides: Record<string, unknown>[] = []): Promise<Harness> {
  return chainHarness([new ProviderAdapterFake(script)], overrides);
}

/** A chain of scripted providers, tried in order; target i may carry the caller's key `keys[i]`. */
async function chainHarness(
  adapters: ProviderAdapterFake[],
  overrides: Record<string, unknown>[] = [],
  keys: Array<string | undefined> = [],
): Promise<Harness> {
  const circuits = new FakeCircuits();
  const deadLetters = new FakeDeadLetters();
  const plannedKeys: Array<ProviderKeys | undefined> = [];
  const targets = adapters.map((adapter, i) => ({
    model: fakeModel(`${adapter.id}/model`),
    adapter,
    source: 'config' as const,
    apiKey: keys[i],
  }));
  const moduleRef = await Test.createTestingModule({
    providers: [
      CompletionService,
      FailoverExecutor,
      ActiveStreams,
      LifecycleService,
      MetricsService,
      LatencyTracker,
      ProviderHealth,
      SanitizationService,
      RedisService,
      EventBus,
      StreamHub,
      { provide: AppConfig, useValue: loadConfig({ env: {}, overrides: [FAST, ...overrides] }) },
      { provide: ROOT_LOGGER, useValue: pino({ level: 'silent' }) },
      {
        provide: RoutingService,
        useValue: {
          plan: (_: ChatCompletionRequest, keys?: ProviderKeys) => (plannedKeys.push(keys), targets),
        },
      },
      { provide: CircuitBreakerService, useValue: circuits },
      { provide: DeadLetterService, useValue: deadLetters },
      { provide: ProviderRegistry, useValue: fakeRegistry },
    ],
  }).compile();
  await moduleRef.init();
  modules.push(moduleRef);
  return {
    service: moduleRef.get(CompletionService),
    active: moduleRef.get(ActiveStreams),
    lifecycle: moduleRef.get(LifecycleService),
    adapter: adapters[0]!,
    adapters,
    circuits,
    letters: deadLetters.letters,
    deadLetters,
    health: moduleRef.get(ProviderHealth),
    latency: moduleRef.get(LatencyTracker),
    plannedKeys,
  };
}

const ctx = (signal?: AbortSignal): CompletionCaller => ({ requestId: 'r1', protocol: 'sse', signal });

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

  it('masks PII split across provider deltas, releasing what it held before the terminal event', async () => {
    const h = await harness(
      [
        { type: 'content_chunk', content: 'Write to jane.d', index: 0 },
        { type: 'content_chunk', content: 'oe@exam', index: 0 },
        { type: 'content_chunk', content: 'ple.com soon', index: 0 },
        done,
      ],
      [{ sanitization: { enabled: true, streams: true } }],
    );
    const events = await drain(h.service.start(request, ctx()));
    const text = events.map((e) => (e.type === 'content_chunk' ? e.content : '')).join('');
    expect(text).toBe('Write to [EMAIL] soon');
    expect(events.some((e) => e.type === 'content_chunk' && e.content.includes('jane'))).toBe(false);
    expect(types(events).at(-1)).toBe('completed');
    // The caller's claim turns it off; a route setting applies without one.
    const raw = await harness(
      [{ type: 'content_chunk', content: 'jane.doe@example.com', index: 0 }, done],
      [{ sanitization: { enabled: true, streams: true } }],
    );
    const unmasked = await drain(raw.service.start(request, { ...ctx(), principal: { sanitize: false } }));
    expect(unmasked[0]).toMatchObject({ content: 'jane.doe@example.com' });
    const offRoute = await harness(
      [{ type: 'content_chunk', content: 'jane.doe@example.com', index: 0 }, done],
      [{ sanitization: { enabled: true, streams: true, routes: { sse: false } } }],
    );
    expect((await drain(offRoute.service.start(request, ctx())))[0]).toMatchObject({
      content: 'jane.doe@example.com',
    });
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
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(events[1]).toEqual({
      type: 'error',
      completionId: events[0]!.completionId,
      error: {
        code: 'rate_limit_exceeded',
        message: 'slow down',
        retryable: true,
        retryAfterMs: 2000,
        deadLetterId: 'dl-00000000000000000000000000000001', // dead-lettered: the chain broke
      },
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
    expect(types(await drain(h.service.start(streamRequest, ctx())))).toEqual([
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
    for await (const event of h.service.start(streamRequest, ctx(client.signal))) {
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
    // The hub runs the completion; its only follower leaving cancels it (asynchronously, through its abort).
    await waitFor('the stream released', () => h.active.size === 0);
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
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(events.map((e) => (e.type === 'content_chunk' ? e.content : e.type))).toEqual([
      'He',
      'llo',
      '!',
      'completed',
    ]);
  });

  it('keeps only the event types the caller may receive on a stream; complete() aggregates them all', async () => {
    const script: FakeStep[] = [
      { type: 'thinking', content: 'hmm' },
      { type: 'content_chunk', content: 'a', index: 0 },
      done,
    ];
    const principal = { eventTypes: new Set(['content_chunk']) };
    const h = await harness(script);
    expect(types(await drain(h.service.start(request, { ...ctx(), principal })))).toEqual([
      'content_chunk',
      'completed',
    ]);
    const all = await harness(script);
    expect(await all.service.complete(request, { ...ctx(), principal })).toMatchObject({
      reasoning: 'hmm',
      content: 'a',
    });
  });

  it("parses the caller's provider key for routing; a malformed one is refused before any event", async () => {
    const h = await harness([done, done]);
    await drain(h.service.start(request, { ...ctx(), providerKey: 'a=sk-a' }));
    expect(h.plannedKeys[0]?.keyFor('a', undefined)).toBe('sk-a');
    const bad = { ...ctx(), providerKey: 'sk-\u0000', providerKeyField: 'providerKey' };
    expect(() => h.service.start(request, bad)).toThrow(
      expect.objectContaining({ code: 'invalid_request', param: 'providerKey' }) as Error,
    );
    expect(() => h.service.start(request, { ...ctx(), providerKey: 'sk-\u0000' })).toThrow(/x-provider-key/);
    expect(h.plannedKeys).toHaveLength(1);
    expect(h.active.size).toBe(0);
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
      await waitFor('the stream released', () => h.active.size === 0);
    });
  });
});

describe('CompletionService failover', () => {
  const text = (content: string): FakeStep => ({ type: 'content_chunk', content, index: 0 });
  const fail = (code: StreamErrorCode, details: { retryable?: boolean; retryAfterMs?: number } = {}) => ({
    throws: new ProviderError(code, `${code} upstream`, 'x', { retryable: true, ...details }),
  });
  const contents = (events: StreamEvent[]) =>
    events.flatMap((e) => (e.type === 'content_chunk' ? [e.content] : [])).join('');

  it('moves to the next provider after a 5xx before the first token; the client sees one clean stream', async () => {
    const h = await chainHarness([
      new ProviderAdapterFake([fail(StreamErrorCode.ProviderError)], 'a'),
      new ProviderAdapterFake([text('from b'), done], 'b'),
    ]);
    const stream = h.service.start(streamRequest, ctx());
    const events = await drain(stream);
    expect(types(events)).toEqual(['content_chunk', 'completed']);
    expect(contents(events)).toBe('from b');
    expect(stream.provider).toBe('b');
    expect(stream.model).toBe('b/model');
    expect(h.circuits.records).toEqual([
      { provider: 'a', ok: false },
      { provider: 'b', ok: true },
    ]);
    expect(h.letters).toHaveLength(0);
  });

  it('fails over when a 200 stream opens with an error frame', async () => {
    const h = await chainHarness([
      new ProviderAdapterFake(
        [{ type: 'error', error: { code: StreamErrorCode.ProviderError, message: 'boom', retryable: true } }],
        'a',
      ),
      new ProviderAdapterFake([text('ok'), done], 'b'),
    ]);
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(types(events)).toEqual(['content_chunk', 'completed']);
  });

  it('abandons a provider that sends no first token within first_token_timeout', async () => {
    const stalled = new ProviderAdapterFake([{ hangUntilAborted: true }], 'a');
    const h = await chainHarness(
      [stalled, new ProviderAdapterFake([text('b'), done], 'b')],
      [{ streaming: { error_handling: { first_token_timeout: '30ms' } } }],
    );
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(types(events)).toEqual(['content_chunk', 'completed']);
    expect(stalled.abortObserved).toBe(true);
    expect(h.circuits.records[0]).toEqual({ provider: 'a', ok: false });
  });

  it('does not apply the first-token timeout to non-streaming requests', async () => {
    const h = await chainHarness(
      [new ProviderAdapterFake([{ sleepMs: 60 }, text('slow'), done], 'a')],
      [{ streaming: { error_handling: { first_token_timeout: '10ms' } } }],
    );
    const result = await h.service.complete(request, ctx());
    expect(result.content).toBe('slow');
  });

  it('retries a dropped connection on the same provider up to max_retries, then moves on', async () => {
    const a = new ProviderAdapterFake([fail(StreamErrorCode.ConnectionLost)], 'a');
    const h = await chainHarness(
      [a, new ProviderAdapterFake([text('b'), done], 'b')],
      [{ streaming: { error_handling: { max_retries: 2 } } }],
    );
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(types(events)).toEqual(['content_chunk', 'completed']);
    expect(a.seen).toHaveLength(3);
  });

  it('on a rate limit moves to the next provider at once, without waiting', async () => {
    const a = new ProviderAdapterFake(
      [fail(StreamErrorCode.RateLimitExceeded, { retryAfterMs: 60_000 })],
      'a',
    );
    const h = await chainHarness([a, new ProviderAdapterFake([text('b'), done], 'b')]);
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(types(events)).toEqual(['content_chunk', 'completed']);
    expect(a.seen).toHaveLength(1);
  });

  it('with no other provider, waits out a short retry-after and retries', async () => {
    const a = new ProviderAdapterFake(
      [fail(StreamErrorCode.RateLimitExceeded, { retryAfterMs: 20 })],
      'a',
    ).andThen([text('second try'), done]);
    const h = await chainHarness([a]);
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(contents(events)).toBe('second try');
    expect(a.seen).toHaveLength(2);
  });

  it('with no other provider and a long retry-after, fails with 429 and the retry-after', async () => {
    const a = new ProviderAdapterFake(
      [fail(StreamErrorCode.RateLimitExceeded, { retryAfterMs: 60_000 })],
      'a',
    );
    const h = await chainHarness([a], [{ streaming: { error_handling: { max_rate_limit_wait: '1s' } } }]);
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'error',
      error: { code: 'rate_limit_exceeded', retryAfterMs: 60_000 },
    });
    expect(a.seen).toHaveLength(1);
    expect(h.letters).toHaveLength(1);
  });

  it('after the first token, a failure ends the stream with an error: never silently, never a second answer', async () => {
    const b = new ProviderAdapterFake([text('b'), done], 'b');
    const h = await chainHarness([
      new ProviderAdapterFake([text('partial '), fail(StreamErrorCode.ConnectionLost)], 'a'),
      b,
    ]);
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(types(events)).toEqual(['content_chunk', 'error:connection_lost']);
    expect(b.seen).toHaveLength(0);
    expect(h.letters).toHaveLength(1);
  });

  it('with continue_after_failure, continues on the next provider from the partial answer and marks the splice', async () => {
    const b = new ProviderAdapterFake([text('rest.'), done], 'b');
    const h = await chainHarness(
      [new ProviderAdapterFake([text('The start, '), fail(StreamErrorCode.ConnectionLost)], 'a'), b],
      [{ streaming: { error_handling: { continue_after_failure: true } } }],
    );
    const stream = h.service.start(streamRequest, ctx());
    const events = await drain(stream);
    expect(contents(events)).toBe('The start, rest.');
    expect(events.at(-1)).toMatchObject({
      type: 'completed',
      splices: [{ at: 11, from: 'a/model', reason: 'connection_lost' }],
    });
    expect(b.seen[0]?.body.messages.at(-1)).toEqual({ role: 'assistant', content: 'The start, ' });
    expect(stream.provider).toBe('a');
  });

  it('does not splice once a tool call has been streamed', async () => {
    const h = await chainHarness(
      [
        new ProviderAdapterFake(
          [
            { type: 'tool_call', index: 0, toolCallId: 'c1', name: 'f', argumentsDelta: '{"a"' },
            fail(StreamErrorCode.ConnectionLost),
          ],
          'a',
        ),
        new ProviderAdapterFake([text('b'), done], 'b'),
      ],
      [{ streaming: { error_handling: { continue_after_failure: true } } }],
    );
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(types(events)).toEqual(['tool_call', 'error:connection_lost']);
  });

  it('dead-letters a request that ends in invalid_response, with its attempts and chain', async () => {
    const h = await chainHarness([new ProviderAdapterFake([fail(StreamErrorCode.InvalidResponse)], 'a')]);
    await drain(h.service.start(streamRequest, ctx()));
    expect(h.letters).toEqual([
      expect.objectContaining({
        errorKind: 'invalid_response',
        chain: ['a/model'],
        byok: false,
        attempts: [expect.objectContaining({ provider: 'a', code: 'invalid_response' })],
        request: streamRequest,
      }),
    ]);
  });

  it('holds the terminal error until its dead letter is durable, then names the letter in it', async () => {
    const h = await chainHarness([new ProviderAdapterFake([fail(StreamErrorCode.ProviderError)], 'a')]);
    h.deadLetters.hold = true;
    const iterator = h.service.start(streamRequest, ctx())[Symbol.asyncIterator]();
    let delivered: IteratorResult<StreamEvent> | undefined;
    const next = iterator.next().then((result) => (delivered = result));
    await waitFor('the letter to be written', () => h.deadLetters.waiting > 0, 5_000);
    expect(h.deadLetters.waiting).toBe(1);
    await new Promise(setImmediate);
    expect(delivered).toBeUndefined(); // the error waits for the letter
    h.deadLetters.release();
    await next;
    expect(delivered?.value).toMatchObject({
      type: 'error',
      error: { code: 'provider_error', deadLetterId: 'dl-00000000000000000000000000000001' },
    });
    expect((await iterator.next()).done).toBe(true);
    expect(h.letters).toHaveLength(1);
  });

  it('a non-streaming failure throws with the dead letter id; a letter stored nowhere is not named', async () => {
    const h = await chainHarness([new ProviderAdapterFake([fail(StreamErrorCode.ProviderError)], 'a')]);
    await expect(h.service.complete(request, ctx())).rejects.toMatchObject({
      code: 'provider_error',
      deadLetterId: 'dl-00000000000000000000000000000001',
    });
    h.deadLetters.lose = true;
    const lost = await h.service.complete(request, ctx()).catch((err: unknown) => err);
    expect(lost).toBeInstanceOf(CompletionError);
    expect((lost as CompletionError).deadLetterId).toBeUndefined();
    expect(h.letters).toHaveLength(2);
  });

  it('never dead-letters a replay again', async () => {
    const h = await chainHarness([new ProviderAdapterFake([fail(StreamErrorCode.InvalidResponse)], 'a')]);
    await drain(h.service.start(streamRequest, { ...ctx(), replayOf: 'dl-1' }));
    expect(h.letters).toHaveLength(0);
  });

  it('flags a provider whose configured key is refused and moves on; a caller key failing stops at once', async () => {
    const h = await chainHarness([
      new ProviderAdapterFake([fail(StreamErrorCode.AuthenticationFailed, { retryable: false })], 'a'),
      new ProviderAdapterFake([text('b'), done], 'b'),
    ]);
    expect(types(await drain(h.service.start(streamRequest, ctx())))).toEqual(['content_chunk', 'completed']);
    expect(h.health.isMisconfigured('a')).toBe(true);

    const own = await chainHarness(
      [
        new ProviderAdapterFake([fail(StreamErrorCode.AuthenticationFailed, { retryable: false })], 'c'),
        new ProviderAdapterFake([text('d'), done], 'd'),
      ],
      [],
      ['sk-caller'],
    );
    expect(types(await drain(own.service.start(streamRequest, ctx())))).toEqual([
      'error:authentication_failed',
    ]);
    expect(own.health.isMisconfigured('c')).toBe(false);
  });

  it('does not fail over a bad request', async () => {
    const b = new ProviderAdapterFake([text('b'), done], 'b');
    const h = await chainHarness([
      new ProviderAdapterFake([fail(StreamErrorCode.BadRequest, { retryable: false })], 'a'),
      b,
    ]);
    expect(types(await drain(h.service.start(streamRequest, ctx())))).toEqual(['error:bad_request']);
    expect(b.seen).toHaveLength(0);
    expect(h.letters).toHaveLength(0);
  });

  it('skips providers whose circuit is open; with all open, fails 503 with the cool-down as retry-after', async () => {
    const a = new ProviderAdapterFake([text('a'), done], 'a');
    const h = await chainHarness([a, new ProviderAdapterFake([text('b'), done], 'b')]);
    h.circuits.open.add('a');
    expect(contents(await drain(h.service.start(streamRequest, ctx())))).toBe('b');
    expect(a.seen).toHaveLength(0);
    h.circuits.open.add('b');
    const events = await drain(h.service.start(streamRequest, ctx()));
    expect(events).toEqual([
      expect.objectContaining({
        type: 'error',
        error: expect.objectContaining({ code: 'service_unavailable', retryAfterMs: 5000 }),
      }),
    ]);
  });

  it('a cancel during a retry backoff ends the stream as cancelled at once', async () => {
    const h = await chainHarness(
      [new ProviderAdapterFake([fail(StreamErrorCode.ConnectionLost)], 'a')],
      [{ streaming: { error_handling: { retry_delay: '10s', max_retry_delay: '10s' } } }],
    );
    const client = new AbortController();
    const pending = drain(h.service.start(streamRequest, ctx(client.signal)));
    // The first attempt has failed and been recorded: the executor is in its 10 s backoff.
    await waitFor('the first attempt to be recorded', () => h.circuits.records.length === 1, 5_000);
    client.abort();
    expect(types(await pending)).toEqual(['error:cancelled']);
    expect(h.active.size).toBe(0);
  });

  it('a non-streaming request holds the whole answer, so a failure after some content still fails over', async () => {
    const h = await chainHarness(
      [
        new ProviderAdapterFake([text('half an '), fail(StreamErrorCode.ConnectionLost)], 'a'),
        new ProviderAdapterFake([text('whole answer'), done], 'b'),
      ],
      [{ streaming: { error_handling: { max_retries: 0 } } }],
    );
    const result = await h.service.complete(request, ctx());
    expect(result).toMatchObject({ content: 'whole answer', provider: 'b', model: 'b/model' });
  });

  it("failures on a caller's own key do not count against the shared circuit", async () => {
    const h = await chainHarness(
      [new ProviderAdapterFake([fail(StreamErrorCode.RateLimitExceeded, { retryAfterMs: 60_000 })], 'a')],
      [],
      ['sk-caller'],
    );
    await drain(h.service.start(streamRequest, ctx()));
    expect(h.circuits.records).toEqual([]);
  });

  it('asks the circuit again before every retry, and moves on when it opened meanwhile', async () => {
    const a = new ProviderAdapterFake([fail(StreamErrorCode.ConnectionLost)], 'a');
    const h = await chainHarness([a, new ProviderAdapterFake([text('b'), done], 'b')]);
    const admit = h.circuits.admit.bind(h.circuits);
    h.circuits.admit = (provider: string) => {
      if (provider === 'a' && a.seen.length === 1) h.circuits.open.add('a');
      return admit(provider);
    };
    expect(contents(await drain(h.service.start(streamRequest, ctx())))).toBe('b');
    expect(a.seen).toHaveLength(1);
    expect(h.circuits.admits).toBe(3);
  });

  it('releases a half-open trial that ends without a verdict on the provider', async () => {
    const h = await chainHarness([
      new ProviderAdapterFake([fail(StreamErrorCode.BadRequest, { retryable: false })], 'a'),
    ]);
    h.circuits.trials = true;
    await drain(h.service.start(streamRequest, ctx()));
    expect(h.circuits.releases).toEqual(['a']);
    expect(h.circuits.records).toEqual([]);
  });

  it('a consumer that stops mid-stream aborts the upstream and releases its trial', async () => {
    const a = new ProviderAdapterFake([text('one'), { hangUntilAborted: true }], 'a');
    const h = await chainHarness([a]);
    h.circuits.trials = true;
    for await (const event of h.service.start(streamRequest, ctx())) {
      expect(event.type).toBe('content_chunk');
      break;
    }
    await waitFor('the upstream aborted', () => a.closed);
    expect(h.circuits.releases).toEqual(['a']);
    await waitFor('the stream released', () => h.active.size === 0);
  });

  it('a client that leaves while the circuit is being asked never reaches the provider', async () => {
    const a = new ProviderAdapterFake([text('a'), done], 'a');
    const h = await chainHarness([a]);
    let answer = (): void => undefined;
    h.circuits.admitGate = new Promise((resolve) => (answer = resolve));
    const client = new AbortController();
    const pending = drain(h.service.start(streamRequest, ctx(client.signal)));
    await waitFor('the circuit to be asked', () => h.circuits.admits === 1, 5_000);
    client.abort();
    answer();
    expect(types(await pending)).toEqual(['error:cancelled']);
    expect(a.seen).toHaveLength(0);
  });

  it('time to first token is measured per attempt; a provider failing before it ranks as slow', async () => {
    const h = await chainHarness(
      [
        new ProviderAdapterFake([{ sleepMs: 40 }, fail(StreamErrorCode.ProviderError)], 'a'),
        new ProviderAdapterFake([text('b'), done], 'b'),
      ],
      [{ streaming: { error_handling: { first_token_timeout: '5s' } } }],
    );
    await drain(h.service.start(streamRequest, ctx()));
    expect(h.latency.averageMs('b', 'b/model')).toBeLessThan(40);
    expect(h.latency.averageMs('a', 'a/model')).toBe(5000);
  });
});
