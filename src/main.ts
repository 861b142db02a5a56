import 'reflect-metadata';
import cluster from 'node:cluster';
import { createApp } from './app.factory';
import { answerMetricsRequests } from './cluster/cluster-metrics';
import { forWorker, runPrimary, workerCount, workerIndex } from './cluster/cluster-primary';
import { createRootLogger } from './app.logger';
import type { AppConfig } from './config/app-config';
import { ConfigError, loadConfig } from './config/config.loader';
import { redactConfig } from './config/config.redact';
import { ProviderRegistry } from './providers/provider-registry.service';

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // streaming.performance.worker_threads: the primary forks the workers and serves nothing itself.
  const workers = workerCount(config.streaming.performance.worker_threads);
  if (workers > 1 && cluster.isPrimary) {
    process.exit(await runPrimary(workers, createRootLogger(config)));
  }
  const worker = workerIndex();
  if (worker !== undefined) {
    forWorker(config, worker);
    answerMetricsRequests();
  }
  // A worker's every line names its slot.
  const root = createRootLogger(config);
  const logger = worker === undefined ? root : root.child({ worker });
  logger.debug({ config: redactConfig(config) }, 'effective configuration');
  const app = await createApp(config, { logger });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen({
    port: config.server.port,
    host: config.server.host,
    backlog: config.server.listen_backlog,
  });
  logger.info(
    {
      url: await app.getUrl(),
      // Each enabled provider with the base URL it calls (no credentials) and whether it can serve now.
      providers: app
        .get(ProviderRegistry)
        .all()
        .map((p) => ({ id: p.id, type: p.type, url: p.endpoint, ready: p.configured })),
      models: config.models.map((m) => m.id),
      ...(worker === undefined ? {} : { worker, workers, pid: process.pid }),
    },
    'Circuit Breaker is listening',
  );
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else
    process.stderr.write(
      `Circuit Breaker failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
  process.exit(1);
});
