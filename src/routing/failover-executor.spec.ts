import pino from 'pino';
import { MetricsService } from '../analytics/metrics.service';
import { loadConfig } from '../config/config.loader';
import type { ChatCompletionRequest } from '../contract/chat-request';
import { CompletionError, StreamErrorCode } from '../contract/error-code';
import type { StreamEvent } from '../contract/stream-event';
import { ProviderAdapterFake, type FakeStep, fakeModel } from '../providers/provider-adapter.fake';
import { ProviderError } from '../providers/provider.error';
import type { CircuitBreakerService } from './circuit-breaker.service';
import {
  FailoverExecutor,
  type FailoverPlan,
  type FailoverProgress,
  startProgress,
} from './failover-executor';
import { LatencyTracker } from './latency-tracker.service';
import { ProviderHealth } from './provider-health.service';
import type { RouteTarget } from './routing.service';

const usage = { promptTokens: 1, completionTokens: 2, totalTokens: 3 };
const done: FakeStep = { type: 'completed', finishReason: 'stop', usage };
const text = (content: string): FakeStep => ({ type: 'content_chunk', content, index: 0 });
const fail = (code: StreamErrorCode): FakeStep => ({
  throws: new ProviderError(code, `${code} upstream`, 'x', { retryable: true }),
});
const streamRequest: ChatCompletionRequest = {
  model: 'a/model',
  messages: [{ role: 'user', content: 'hi' }],
  stream: true,
};

/** Circuits that admit everything (half-open trials when `trials`), recording verdicts and releases. */
class AdmittingCircuits {
  readonly records: Array<{ provider: string; ok: boolean }> = [];
  readonly releases: string[] = [];
  trials = false;
  admit(): Promise<{ allowed: boolean; trial: boolean; state: string }> {
    return Promise.resolve({ allowed: true, trial: this.trials, state: 'closed' });
  }
  isOpen(): boolean {
    return false;
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

function executor(overrides: Record<string, unknown>[] = []) {
  const config = loadConfig({
    env: {},
    overrides: [
      { streaming: { error_handling: { retry_delay: '1ms', max_retry_delay: '2ms' } } },
      ...overrides,
    ],
  });
  const circuits = new AdmittingCircuits();
  const metrics = new MetricsService(config);
  const log = pino({ level: 'silent' });
  const failover = new FailoverExecutor(
    config,
    circuits as unknown as CircuitBreakerService,
    new LatencyTracker(config),
    new ProviderHealth(metrics, log),
    metrics,
  );
  /** Runs a plan over `adapters` to its end; the events and the progress it reported. */
  const run = async (
    adapters: ProviderAdapterFake[],
    request = streamRequest,
    signal = new AbortController().signal,
  ) => {
    const targets: RouteTarget[] = adapters.map((adapter) => ({
      model: fakeModel(`${adapter.id}/model`),
      adapter,
      source: 'config',
    }));
    const plan: FailoverPlan = { completionId: 'chatcmpl-1', request, targets };
    const progress: FailoverProgress = startProgress(plan);
    const events: StreamEvent[] = [];
    for await (const event of failover.execute(plan, { signal, log, progress })) events.push(event);
    return { events, progress };
  };
  return { failover, circuits, run };
}

const types = (events: StreamEvent[]) =>
  events.map((e) => (e.type === 'error' ? `error:${e.error.code}` : e.type));

describe('FailoverExecutor', () => {
  it('yields the serving attempt only, and reports who served, what failed and when the first token came', async () => {
    const { run, circuits } = executor();
    const { events, progress } = await run([
      new ProviderAdapterFake([fail(StreamErrorCode.ProviderError)], 'a'),
      new ProviderAdapterFake([text('from b'), done], 'b'),
    ]);
    expect(types(events)).toEqual(['content_chunk', 'completed']);
    expect(events.every((e) => e.completionId === 'chatcmpl-1')).toBe(true);
    expect(progress.served.adapter.id).toBe('b');
    expect(progress.attempts).toEqual([
      {
        provider: 'a',
        model: 'a/model',
        code: 'provider_error',
        message: 'provider_error upstream',
        startedAt: expect.any(String) as string,
        endedAt: expect.any(String) as string,
      },
    ]);
    expect(progress.firstTokenMs).toEqual(expect.any(Number));
    expect(circuits.records).toEqual([
      { provider: 'a', ok: false },
      { provider: 'b', ok: true },
    ]);
  });

  it('ends a broken chain with its last error as is: dead letters are for whoever observes the stream', async () => {
    const { run } = executor([{ streaming: { error_handling: { max_retries: 1 } } }]);
    const { events, progress } = await run([
      new ProviderAdapterFake([fail(StreamErrorCode.ConnectionLost)], 'a'),
    ]);
    expect(events).toEqual([
      {
        type: 'error',
        completionId: 'chatcmpl-1',
        error: { code: 'connection_lost', message: 'connection_lost upstream', retryable: true },
      },
    ]);
    expect(progress.attempts.map((a) => a.code)).toEqual(['connection_lost', 'connection_lost']);
    // Never committed: the first planned target still names the completion.
    expect(progress.served.adapter.id).toBe('a');
    expect(progress.firstTokenMs).toBeUndefined();
  });

  it("ends an aborted execution with the abort's own error, or cancelled", async () => {
    const { run } = executor();
    const drain = new AbortController();
    const draining = run(
      [new ProviderAdapterFake([{ hangUntilAborted: true }], 'a')],
      streamRequest,
      drain.signal,
    );
    drain.abort(new CompletionError(StreamErrorCode.ServiceUnavailable, 'draining', { retryable: true }));
    expect((await draining).events).toEqual([
      {
        type: 'error',
        completionId: 'chatcmpl-1',
        error: { code: 'service_unavailable', message: 'draining', retryable: true },
      },
    ]);
    const client = new AbortController();
    client.abort();
    expect(
      types((await run([new ProviderAdapterFake([done], 'a')], streamRequest, client.signal)).events),
    ).toEqual(['error:cancelled']);
  });

  it('counts splices in its progress when it continues on the next provider', async () => {
    const { run } = executor([{ streaming: { error_handling: { continue_after_failure: true } } }]);
    const { events, progress } = await run([
      new ProviderAdapterFake([text('The start, '), fail(StreamErrorCode.ConnectionLost)], 'a'),
      new ProviderAdapterFake([text('rest.'), done], 'b'),
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'completed', splices: [{ at: 11, from: 'a/model' }] });
    expect(progress.splices).toBe(1);
    expect(progress.served.adapter.id).toBe('a');
  });

  it('a consumer that stops mid-attempt aborts the upstream and releases its half-open trial', async () => {
    const { failover, circuits } = executor();
    circuits.trials = true;
    const adapter = new ProviderAdapterFake([text('one'), { hangUntilAborted: true }], 'a');
    const plan: FailoverPlan = {
      completionId: 'chatcmpl-1',
      request: streamRequest,
      targets: [{ model: fakeModel('a/model'), adapter, source: 'config' }],
    };
    const signal = new AbortController().signal;
    const progress = startProgress(plan);
    for await (const event of failover.execute(plan, { signal, log: pino({ level: 'silent' }), progress })) {
      expect(event.type).toBe('content_chunk');
      break;
    }
    expect(adapter.closed).toBe(true);
    expect(circuits.releases).toEqual(['a']);
    expect(circuits.records).toEqual([]);
  });
});
