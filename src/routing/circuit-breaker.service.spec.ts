import { Writable } from 'node:stream';
import { MetricsService } from '../analytics/metrics.service';
import { CompletionError, StreamErrorCode } from '../contract/error-code';
import { createLogger } from '../common/logging/logger';
import { loadConfig } from '../config/config.loader';
import { RedisService } from '../redis/redis.service';
import { CircuitBreakerService } from './circuit-breaker.service';

/** Redis-backed behaviour is covered against a real Redis in test/circuit-breaker.e2e-spec.ts. */
describe('CircuitBreakerService without Redis', () => {
  let redis: RedisService;
  let service: CircuitBreakerService;
  const logged: string[] = [];

  beforeAll(async () => {
    const config = loadConfig({
      env: {},
      overrides: [
        {
          server: { log_level: 'warn' },
          redis: { url: 'redis://127.0.0.1:1', connect_timeout: '200ms', health_timeout: '300ms' },
          streaming: {
            monitoring: { metrics_enabled: false },
            error_handling: { circuit_breaker_min_requests: 1, circuit_breaker_threshold: 1 },
          },
        },
      ],
    });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          logged.push((JSON.parse(line) as { msg: string }).msg);
        }
        done();
      },
    });
    const logger = createLogger({ level: config.server.log_level }, sink);
    redis = new RedisService(config, logger);
    service = new CircuitBreakerService(config, redis, new MetricsService(config), logger);
    await service.onModuleInit();
  });

  afterAll(async () => {
    await service.onApplicationShutdown();
    await redis.onApplicationShutdown();
  });

  it('lets every request through and drops outcomes without throwing, saying so once', async () => {
    for (let i = 0; i < 3; i++) {
      await expect(service.record('openai', 'openai/gpt-4o', false, false)).resolves.toBeUndefined();
    }
    await expect(service.record('openai', 'openai/gpt-4o', true, true)).resolves.toBeUndefined();
    expect(service.isOpen('openai', 'openai/gpt-4o')).toBe(false);
    await expect(service.admit('openai', 'openai/gpt-4o')).resolves.toEqual({
      allowed: true,
      trial: false,
      state: 'closed',
    });
    expect(logged.filter((msg) => msg.startsWith('circuit'))).toEqual(['circuit outcome not recorded']);
  });

  it('answers the admin calls with a retryable service_unavailable error', async () => {
    const unavailable = expect.objectContaining({
      code: StreamErrorCode.ServiceUnavailable,
      retryable: true,
    });
    await expect(service.list()).rejects.toBeInstanceOf(CompletionError);
    await expect(service.list()).rejects.toEqual(unavailable);
    await expect(service.reset('openai', 'openai/gpt-4o')).rejects.toEqual(unavailable);
  });
});
