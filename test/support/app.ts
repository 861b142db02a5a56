import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Writable } from 'node:stream';
import { createApp } from '../../src/app.factory';
import { createRootLogger } from '../../src/app.logger';
import type { AppConfig } from '../../src/config/app-config';
import { type ConfigLayer, loadConfig } from '../../src/config/config.loader';
import { deleteKeys, testPrefix } from './redis-prefix';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/** Test defaults: a free port on loopback, quiet logs, and a simulated provider fast enough for tests. */
const TEST_LAYER: ConfigLayer = {
  server: { host: '127.0.0.1', port: 0, log_level: process.env.TEST_LOG_LEVEL ?? 'silent' },
  providers: { simulated: { type: 'simulated', tokens_per_second: 0, first_token_delay: 0 } },
};

/** Boots the real app (same factory as main.ts) on a real port. */
export function startApp(...overrides: ConfigLayer[]): Promise<TestApp> {
  return startAppWith({}, ...overrides);
}

export interface StartOptions {
  /** Receives the JSON log lines (at the configured level; `silent` unless an override sets it). */
  logSink?: Writable;
}

export async function startAppWith(options: StartOptions, ...overrides: ConfigLayer[]): Promise<TestApp> {
  const env = { ...process.env };
  delete env.NODE_ENV; // jest sets NODE_ENV=test; tests state their config explicitly
  // Each app gets Redis keys of its own (circuits, dead letters) unless the test shares a prefix on purpose;
  // they are deleted when it closes.
  const ownPrefix = testPrefix();
  const config = loadConfig({
    env,
    overrides: [TEST_LAYER, { redis: { key_prefix: ownPrefix } }, ...overrides],
  });
  const logger = options.logSink ? createRootLogger(config, options.logSink) : undefined;
  const app = await createApp(config, logger ? { logger } : undefined);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    app,
    config,
    url: `http://127.0.0.1:${address.port}`,
    close: async () => {
      await app.close();
      if (config.redis.key_prefix === ownPrefix) await deleteKeys(ownPrefix).catch(() => undefined);
    },
  };
}

/** Extra catalogue models for tests, appended to the shipped ones. */
export function withModels(
  config: ConfigLayer[] = [],
  ...models: Array<Record<string, unknown>>
): ConfigLayer {
  const shipped = loadConfig({ env: {}, overrides: config }).models.map((m) => ({ ...m }));
  return { models: [...shipped, ...models] };
}

/** A log sink collecting parsed JSON lines. */
export function logCollector(): { sink: Writable; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { sink, lines };
}
