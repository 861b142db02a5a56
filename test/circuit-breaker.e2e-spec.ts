import type { Writable } from 'node:stream';
import { register } from 'prom-client';
import { MetricsService } from '../src/analytics/metrics.service';
import { createRootLogger } from '../src/app.logger';
import { loadConfig } from '../src/config/config.loader';
import { RedisService } from '../src/redis/redis.service';
import {
  type Admission,
  CircuitBreakerService,
  type CircuitTransition,
  type CircuitView,
} from '../src/routing/circuit-breaker.service';
import { logCollector } from './support/app';
import { deleteKeys, REDIS_URL, redisClient, testPrefix } from './support/redis-prefix';
import { waitFor } from './support/wait';

/** The service on its own against the real Redis, several instances sharing one prefix as nodes would. */
describe('CircuitBreakerService with Redis', () => {
  const prefix = testPrefix();
  const started: Array<{ service: CircuitBreakerService; redis: RedisService }> = [];
  let models = 0;
  const nextModel = () => `test/model-${++models}`;

  async function breaker(settings: Record<string, unknown>, sink?: Writable): Promise<CircuitBreakerService> {
    const config = loadConfig({
      env: {},
      overrides: [
        {
          server: { log_level: sink ? 'info' : 'silent' },
          redis: { url: REDIS_URL, key_prefix: prefix },
          streaming: {
            monitoring: { metrics_enabled: false },
            error_handling: {
              circuit_breaker_threshold: 50,
              circuit_breaker_window: '10s',
              circuit_breaker_min_requests: 4,
              circuit_breaker_cool_down: '300ms',
              circuit_breaker_half_open_trials: 2,
              ...settings,
            },
          },
        },
      ],
    });
    const logger = createRootLogger(config, sink);
    const redis = new RedisService(config, logger);
    const service = new CircuitBreakerService(config, redis, new MetricsService(config), logger);
    started.push({ service, redis });
    await service.onModuleInit();
    return service;
  }

  afterAll(async () => {
    for (const { service, redis } of started) {
      await service.onApplicationShutdown();
      await redis.onApplicationShutdown();
    }
    await deleteKeys(prefix);
  });

  async function fail(service: CircuitBreakerService, model: string, times: number): Promise<void> {
    for (let i = 0; i < times; i++) await service.record('sim', model, false, false);
  }

  async function viewOf(service: CircuitBreakerService, model: string): Promise<CircuitView | undefined> {
    return (await service.list()).find((c) => c.provider === 'sim' && c.model === model);
  }

  /** Polls admit until the circuit lets a request through (the first trial once half-open). */
  async function firstAllowed(service: CircuitBreakerService, model: string): Promise<Admission> {
    let admission: Admission | undefined;
    await waitFor('an admission', async () => (admission = await service.admit('sim', model)).allowed);
    return admission!;
  }

  it('stays closed below min requests and opens exactly at the threshold', async () => {
    const service = await breaker({ circuit_breaker_cool_down: '10s' });
    const fewer = nextModel();
    await fail(service, fewer, 3);
    expect(service.isOpen('sim', fewer)).toBe(false);
    expect(await viewOf(service, fewer)).toMatchObject({
      state: 'closed',
      requests: 3,
      failures: 3,
      errorRate: 100,
    });

    const model = nextModel();
    for (const ok of [true, true, true, false, false]) await service.record('sim', model, ok, false);
    expect(await viewOf(service, model)).toMatchObject({
      state: 'closed',
      requests: 5,
      failures: 2,
      errorRate: 40,
    });
    await service.record('sim', model, false, false); // 3 of 6: exactly 50%
    expect(service.isOpen('sim', model)).toBe(true);
    expect(await viewOf(service, model)).toMatchObject({
      state: 'open',
      requests: 6,
      failures: 3,
      errorRate: 50,
    });
  });

  it('refuses while open, saying how long the cool-down has left; a node booting later knows it', async () => {
    const service = await breaker({ circuit_breaker_cool_down: '10s' });
    const model = nextModel();
    await fail(service, model, 4);
    const first = await service.admit('sim', model);
    expect(first).toMatchObject({ allowed: false, trial: false, state: 'open' });
    expect(first.retryAfterMs).toBeGreaterThan(0);
    expect(first.retryAfterMs).toBeLessThanOrEqual(10_000);
    const view = await viewOf(service, model);
    expect(view).toMatchObject({ state: 'open', trialsInFlight: 0 });
    expect(Date.parse(view!.retryAt!) - Date.parse(view!.openedAt!)).toBe(10_000);

    const later = await breaker({ circuit_breaker_cool_down: '10s' });
    expect(later.isOpen('sim', model)).toBe(true);
    expect(await later.admit('sim', model)).toMatchObject({ allowed: false, state: 'open' });
  });

  it('keeps circuits in Redis for a while only', async () => {
    const service = await breaker({ circuit_breaker_cool_down: '10s', circuit_breaker_window: '1s' });
    const model = nextModel();
    const client = redisClient();
    try {
      await service.record('sim', model, true, false);
      // A success on a closed circuit waits to be written with others (or with the next failure).
      expect(await client.exists(`${prefix}circuit:sim:${model}`)).toBe(0);
      await service.flushOutcomes();
      const idle = await client.pttl(`${prefix}circuit:sim:${model}`);
      expect(idle).toBeGreaterThan(0);
      expect(idle).toBeLessThanOrEqual(12_000); // 2 windows + cool-down
      await fail(service, model, 4);
      expect(await client.pttl(`${prefix}circuit:sim:${model}`)).toBeGreaterThan(12_000); // cool-down + that
      expect(await client.sismember(`${prefix}circuits`, `sim:${model}`)).toBe(1);
      await client.del(`${prefix}circuit:sim:${model}`); // as if it had expired
      expect(await viewOf(service, model)).toBeUndefined();
      expect(await client.sismember(`${prefix}circuits`, `sim:${model}`)).toBe(0);
      await service.refresh();
      expect(service.isOpen('sim', model)).toBe(false);
    } finally {
      client.disconnect();
    }
  });

  it('half-opens after the cool-down and hands out at most half_open_trials trials at once', async () => {
    const service = await breaker({});
    const model = nextModel();
    await fail(service, model, 4);
    expect(await firstAllowed(service, model)).toMatchObject({
      allowed: true,
      trial: true,
      state: 'half_open',
    });
    const rest = await Promise.all([1, 2, 3, 4].map(() => service.admit('sim', model)));
    expect(rest.filter((a) => a.allowed)).toEqual([{ allowed: true, trial: true, state: 'half_open' }]);
    for (const refused of rest.filter((a) => !a.allowed)) {
      expect(refused).toMatchObject({ trial: false, state: 'half_open' });
      expect(refused.retryAfterMs).toBeGreaterThan(0);
    }
  });

  it('a released trial (no verdict on the provider) frees its slot at once, without counting', async () => {
    const service = await breaker({});
    const model = nextModel();
    await fail(service, model, 4);
    // half_open_trials is 2 here: both slots taken, a third is refused until one is released.
    expect(await firstAllowed(service, model)).toMatchObject({ trial: true });
    expect(await service.admit('sim', model)).toMatchObject({ allowed: true, trial: true });
    expect(await service.admit('sim', model)).toMatchObject({ allowed: false, state: 'half_open' });
    await service.release('sim', model);
    expect(await service.admit('sim', model)).toMatchObject({ allowed: true, trial: true });
    expect(await viewOf(service, model)).toMatchObject({
      state: 'half_open',
      trialsInFlight: 2,
      requests: 4,
      failures: 4,
    });
  });

  it('closes after half_open_trials trial successes, with an empty window', async () => {
    const service = await breaker({});
    const seen: CircuitTransition[] = [];
    service.onTransition((t) => seen.push(t));
    const model = nextModel();
    await fail(service, model, 4);
    await firstAllowed(service, model);
    expect(await service.admit('sim', model)).toMatchObject({ allowed: true, trial: true });
    await service.record('sim', model, true, true);
    expect(seen.at(-1)?.to).toBe('half_open');
    await service.record('sim', model, true, true);
    expect(seen.map((t) => `${t.from}>${t.to}`)).toEqual([
      'closed>open',
      'open>half_open',
      'half_open>closed',
    ]);
    expect(await viewOf(service, model)).toMatchObject({ state: 'closed', requests: 0, failures: 0 });
    expect(await service.admit('sim', model)).toEqual({ allowed: true, trial: false, state: 'closed' });
    await fail(service, model, 3); // a fresh window: below min requests again
    expect(service.isOpen('sim', model)).toBe(false);
  });

  it('opens again, with a fresh cool-down, when a trial fails', async () => {
    const service = await breaker({});
    const seen: CircuitTransition[] = [];
    service.onTransition((t) => seen.push(t));
    const model = nextModel();
    await fail(service, model, 4);
    await firstAllowed(service, model);
    await service.record('sim', model, false, true);
    expect(seen.map((t) => `${t.from}>${t.to}`)).toEqual(['closed>open', 'open>half_open', 'half_open>open']);
    const reopened = seen[2]!;
    expect(Date.parse(reopened.retryAt!) - Date.parse(reopened.at)).toBe(300);
    expect(await firstAllowed(service, model)).toMatchObject({ trial: true, state: 'half_open' });
  });

  it('lets trials that never report expire after the cool-down', async () => {
    const service = await breaker({ circuit_breaker_half_open_trials: 1 });
    const model = nextModel();
    await fail(service, model, 4);
    await firstAllowed(service, model);
    expect(await service.admit('sim', model)).toMatchObject({ allowed: false, state: 'half_open' });
    expect(await firstAllowed(service, model)).toMatchObject({ trial: true, state: 'half_open' });
  });

  it('does not count a trial past its expiry while others are still in flight', async () => {
    const service = await breaker({ circuit_breaker_cool_down: '5s' });
    const model = nextModel();
    await fail(service, model, 4);
    const client = redisClient();
    try {
      // Half-open it without waiting out the cool-down: the script only compares retry_at with Redis time.
      await client.hset(`${prefix}circuit:sim:${model}`, 'retry_at', 0);
      await service.refresh(); // this node's cache still has it cooling down
      expect(await service.admit('sim', model)).toMatchObject({ allowed: true, trial: true });
      const [seconds] = await client.time();
      await client.zadd(
        `${prefix}circuit:sim:${model}:trials`,
        (Number(seconds) - 10) * 1000,
        'crashed-node',
      );
    } finally {
      client.disconnect();
    }
    expect(await service.admit('sim', model)).toMatchObject({ allowed: true, trial: true });
    expect(await service.admit('sim', model)).toMatchObject({ allowed: false, state: 'half_open' });
    expect(await viewOf(service, model)).toMatchObject({ state: 'half_open', trialsInFlight: 2 });
  });

  it('forgets failures that left the window', async () => {
    const service = await breaker({ circuit_breaker_window: '500ms', circuit_breaker_min_requests: 2 });
    const model = nextModel();
    await fail(service, model, 1);
    await waitFor(
      'the failure to leave the window',
      async () => (await viewOf(service, model))?.requests === 0,
    );
    await fail(service, model, 1); // with the first one still counted this would be 2 of 2 and open
    expect(service.isOpen('sim', model)).toBe(false);
    expect(await viewOf(service, model)).toMatchObject({ state: 'closed', requests: 1, failures: 1 });
  });

  it('shares transitions with the other nodes, logged and counted once, by the node that caused them', async () => {
    const logs = logCollector();
    const a = await breaker({ circuit_breaker_cool_down: '10s' }, logs.sink);
    const b = await breaker({ circuit_breaker_cool_down: '10s' }, logs.sink);
    const seen: Array<{ t: CircuitTransition; open: boolean }> = [];
    const model = nextModel();
    b.onTransition((t) => seen.push({ t, open: b.isOpen('sim', model) }));
    await fail(a, model, 4);
    await waitFor('node b to hear of it', () => seen.length > 0);
    expect(seen).toEqual([
      {
        t: {
          provider: 'sim',
          model,
          from: 'closed',
          to: 'open',
          at: expect.any(String),
          errorRate: 100,
          retryAt: expect.any(String),
        },
        open: true,
      },
    ]);
    expect(b.isOpen('sim', model)).toBe(true);
    expect(await b.admit('sim', model)).toMatchObject({ allowed: false, state: 'open' });
    const opened = logs.lines.filter((l) => l.msg === 'circuit opened' && l.model === model);
    expect(opened).toEqual([expect.objectContaining({ level: 40, provider: 'sim', errorRate: 100 })]);
    const counted = (await register.getSingleMetric('cb_circuit_transitions_total')!.get()).values;
    expect(counted.filter((v) => v.labels.model === model)).toEqual([
      expect.objectContaining({ value: 1, labels: { provider: 'sim', model, to: 'open' } }),
    ]);
    const states = (await register.getSingleMetric('cb_circuit_state')!.get()).values;
    expect(states.find((v) => v.labels.model === model)?.value).toBe(2);
  });

  it('writes successes on a closed circuit together, with the next failure or within a second', async () => {
    const service = await breaker({ circuit_breaker_min_requests: 10 });
    const model = nextModel();
    const other = nextModel();
    const client = redisClient();
    const key = (m: string) => `${prefix}circuit:sim:${m}`;
    try {
      for (let i = 0; i < 5; i++) await service.record('sim', model, true, false);
      await service.record('sim', other, true, false);
      // Nothing in Redis for them yet: a success costs no round trip.
      expect(await client.exists(key(model), key(other))).toBe(0);
      // A failure is written at once, with the successes counted before it.
      await service.record('sim', model, false, false);
      expect(await client.hget(key(model), 'state')).toBe('closed');
      const counts = async (m: string) => {
        const hash = await client.hgetall(key(m));
        const sum = (kind: string) =>
          Object.entries(hash)
            .filter(([field]) => field.startsWith(`${kind}:`))
            .reduce((n, [, v]) => n + Number(v), 0);
        return { requests: sum('r'), failures: sum('f') };
      };
      expect(await counts(model)).toEqual({ requests: 6, failures: 1 });
      // The other circuit's success is written by the timer, with no call.
      await waitFor('the batched success to be written', async () => (await client.exists(key(other))) === 1);
      expect(await counts(other)).toEqual({ requests: 1, failures: 0 });
      // An admin read writes what is pending first.
      await service.record('sim', model, true, false);
      expect(await viewOf(service, model)).toMatchObject({ requests: 7, failures: 1 });
    } finally {
      client.disconnect();
    }
  });

  it('a node that shuts down writes the successes it counted', async () => {
    const service = await breaker({});
    const model = nextModel();
    for (let i = 0; i < 3; i++) await service.record('sim', model, true, false);
    await service.onApplicationShutdown();
    const reader = await breaker({});
    expect(await viewOf(reader, model)).toMatchObject({ state: 'closed', requests: 3, failures: 0 });
  });

  it('loads its scripts again after SCRIPT FLUSH', async () => {
    const service = await breaker({});
    const model = nextModel();
    const client = redisClient();
    try {
      await client.script('FLUSH');
    } finally {
      client.disconnect();
    }
    await service.record('sim', model, false, false);
    expect(await viewOf(service, model)).toMatchObject({ requests: 1, failures: 1 });
  });
});
