import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { AggregatorRegistry } from 'prom-client';
import type { AppLogger } from '../common/logging/logger';
import type { AppConfig } from '../config/app-config';
import { WORKER_SLOT_ENV, workerSlotFromEnv } from '../config/worker-slot';
import { isMetricsRequest, type MetricsReply } from './cluster-messages';

/** `streaming.performance.worker_threads`: 0 = one per CPU, 1 = one process (no cluster), n = n workers. */
export function workerCount(setting: number): number {
  return setting === 0 ? availableParallelism() : setting;
}

/** This process's worker slot (1-based) when it is a cluster worker, else undefined. */
export function workerIndex(): number | undefined {
  return cluster.isWorker ? workerSlotFromEnv() : undefined;
}

/**
 * What must not be shared between the workers of one machine: the dead-letter spool is a local file that one
 * process appends to and drains (two would tear each other's lines), so each worker slot has its own, kept by
 * the slot across restarts (a replacement worker drains what its predecessor spooled).
 */
export function forWorker(config: AppConfig, index: number): AppConfig {
  const handling = config.streaming.error_handling;
  const path = handling.dead_letter_spool;
  const ext = extname(path);
  handling.dead_letter_spool = `${path.slice(0, path.length - ext.length)}.w${index}${ext}`;
  return config;
}

/** A worker that dies this many times within RESTART_WINDOW_MS takes the primary down (a crash loop). */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
const RESTART_DELAY_MS = 500;

/**
 * The cluster's primary: forks `count` workers that share the listening port (node:cluster hands each
 * accepted connection, HTTP, SSE and WebSocket alike, to one worker), replaces a worker that dies, drains
 * them on SIGTERM/SIGINT (each runs its own graceful shutdown) and exits once they all have, and answers a
 * worker's `/metrics` with every worker's metrics aggregated. It serves no request itself.
 */
export function runPrimary(count: number, logger: AppLogger): Promise<number> {
  const log = logger.child({ context: 'Cluster' });
  const aggregator = new AggregatorRegistry();
  const slots = new Map<Worker, number>();
  const deaths: number[] = [];
  let stopping = false;

  const fork = (index: number) => {
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(index) });
    slots.set(worker, index);
    worker.on('message', (message: unknown) => {
      if (!isMetricsRequest(message)) return;
      aggregator.clusterMetrics().then(
        (text) => send(worker, { type: 'cb:metrics-reply', id: message.id, text }),
        (err: unknown) =>
          send(worker, {
            type: 'cb:metrics-reply',
            id: message.id,
            error: err instanceof Error ? err.message : String(err),
          }),
      );
    });
  };

  return new Promise((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      const index = slots.get(worker);
      slots.delete(worker);
      if (stopping) {
        if (slots.size === 0) {
          log.info('every worker has stopped');
          resolve(0);
        }
        return;
      }
      log.error({ worker: index, pid: worker.process.pid, code, signal }, 'worker died; starting another');
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && deaths[0]! < now - RESTART_WINDOW_MS) deaths.shift();
      if (deaths.length > MAX_RESTARTS) {
        log.error({ restarts: deaths.length }, 'workers keep dying; stopping the cluster');
        stop();
        if (slots.size === 0) resolve(1);
        return;
      }
      if (index !== undefined) setTimeout(() => !stopping && fork(index), RESTART_DELAY_MS);
    });

    const stop = () => {
      if (stopping) return;
      stopping = true;
      log.info({ workers: slots.size }, 'stopping: every worker drains its streams');
      for (const worker of slots.keys()) worker.process.kill('SIGTERM');
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);

    log.info({ workers: count, pid: process.pid }, 'starting the workers');
    for (let i = 1; i <= count; i++) fork(i);
  });
}

function send(worker: Worker, reply: MetricsReply): void {
  if (worker.isConnected()) worker.send(reply);
}
