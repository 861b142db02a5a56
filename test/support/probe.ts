import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

/** What a liveness probe saw while an attack ran. */
export interface ProbeReport {
  /** Answers of GET /health/live (2xx). */
  answered: number;
  /** Requests that failed or got another status. */
  failed: number;
  /** The slowest answer, ms (a frozen event loop shows here: the probe runs on a thread of its own). */
  worstMs: number;
  /** The longest stall of this process's main event loop (where the app runs), ms. */
  loopDelayMaxMs: number;
}

// Plain JavaScript run by the worker (no TypeScript transform there). It probes until told to stop.
const PROBE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let running = true;
let answered = 0, failed = 0, worstMs = 0;
parentPort.on('message', () => { running = false; });
async function probe() {
  const started = performance.now();
  try {
    const res = await fetch(workerData.url + '/health/live', { signal: AbortSignal.timeout(60000) });
    await res.arrayBuffer();
    return { ok: res.ok, ms: performance.now() - started };
  } catch {
    return { ok: false, ms: performance.now() - started };
  }
}
(async () => {
  await probe(); // warm: the worker's first request opens its connection
  parentPort.postMessage('ready');
  while (running) {
    const { ok, ms } = await probe();
    if (ok) answered++; else failed++;
    worstMs = Math.max(worstMs, ms);
    await new Promise((resolve) => setTimeout(resolve, workerData.intervalMs));
  }
  parentPort.postMessage({ answered, failed, worstMs });
})();
`;

/**
 * Probes GET /health/live from a worker thread every `intervalMs` while `attack` runs in this thread (where the
 * app runs), and watches this thread's event-loop delay. Timing is measured and returned, never asserted here.
 */
export async function probeDuring<T>(
  baseUrl: string,
  attack: () => Promise<T>,
  intervalMs = 20,
): Promise<{ result: T; probe: ProbeReport }> {
  const worker = new Worker(PROBE_SOURCE, { eval: true, workerData: { url: baseUrl, intervalMs } });
  const messages: unknown[] = [];
  let failure: Error | undefined;
  let notify = (): void => undefined;
  worker.on('message', (message: unknown) => {
    messages.push(message);
    notify();
  });
  worker.once('error', (err) => {
    failure = err;
    notify();
  });
  const nth = (n: number): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (failure) reject(failure);
        else if (messages.length >= n) resolve(messages[n - 1]);
      };
      notify = check;
      check();
    });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  try {
    await nth(1); // ready
    loop.enable();
    const result = await attack();
    worker.postMessage('stop');
    const probe = (await nth(2)) as Omit<ProbeReport, 'loopDelayMaxMs'>;
    return { result, probe: { ...probe, loopDelayMaxMs: loop.max / 1e6 } };
  } finally {
    loop.disable();
    await worker.terminate();
  }
}

/** This process's memory, MB. */
export function memoryMb(): { rss: number; heapUsed: number } {
  const { rss, heapUsed } = process.memoryUsage();
  return { rss: Math.round(rss / 1e6), heapUsed: Math.round(heapUsed / 1e6) };
}

/** One line describing what the probe saw during `what` (for console.log). */
export function describeProbe(what: string, probe: ProbeReport): string {
  return (
    `/health/live during ${what}: ${probe.answered} answers, ${probe.failed} failures, worst ` +
    `${probe.worstMs.toFixed(0)} ms; event loop stalled at most ${probe.loopDelayMaxMs.toFixed(0)} ms`
  );
}
