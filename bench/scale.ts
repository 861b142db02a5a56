/**
 * Scale on one instance (`BENCH_ONLY=scale`, part of the default run): many live streams of the simulated
 * provider at 2 tokens/s on one router process, the load spread over receiver processes (scale-load.ts):
 *   1. 2,000 POST SSE streams requested within 200 ms: time to first token;
 *   2. 10,000 POST SSE streams open at once: do all complete, RSS per open stream, setup CPU per stream;
 *   3. 5,000 /ws/stream completions (250 sockets, 20 each) requested within 200 ms: time to first content.
 * Each scenario boots a fresh router, so its RSS before the load is the baseline; the router's event-loop delay
 * p99 is read from its /metrics once a second (prom-client resets it at each scrape) and the worst is printed.
 * BENCH_SCALE=1 runs a tenth of every count (a quick look); BENCH_SCALE_PARTS=sse2k,sse10k,ws5k picks scenarios.
 */
import { fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fmt, spawnServer } from './harness';
import { cpuMs } from './hub-tap';
import { percentiles } from './load';
import type { LoadOrder, LoadReport } from './scale-load';

const LOADERS = 4;

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

/** The worst event-loop delay p99 the router reports until `stop`, one scrape a second. */
function watchLoopDelay(url: string): { stop: () => number } {
  let worst = 0;
  const timer = setInterval(() => {
    fetch(`${url}/metrics`)
      .then((res) => res.text())
      .then((text) => {
        const p99 = Number(/^nodejs_eventloop_lag_p99_seconds (\S+)/m.exec(text)?.[1] ?? 0);
        worst = Math.max(worst, p99 * 1000);
      })
      .catch(() => undefined);
  }, 1_000);
  return {
    stop: () => {
      clearInterval(timer);
      return worst;
    },
  };
}

interface Outcome {
  firsts: number[];
  errors: number;
  completed: number;
  reasons: Record<string, number>;
  /** Router RSS growth (KB) when every stream had its first content, and CPU ms until then and in all. */
  rssGrowthKb: number;
  cpuToFirstMs: number;
  cpuMs: number;
  loopDelayP99Ms: number;
  wallMs: number;
}

/** Splits `orders` over the loader processes; resolves when every stream ended everywhere. */
async function run(pid: number, url: string, orders: LoadOrder[]): Promise<Outcome> {
  await warmUp(url);
  const baseline = await rssKb(pid);
  const cpu0 = await cpuMs(pid);
  const watch = watchLoopDelay(url);
  const t0 = performance.now();
  let firstDone = 0;
  let rssAtFirst = baseline;
  let cpuAtFirst = cpu0;
  const reports = await Promise.all(
    orders.map(
      (order) =>
        new Promise<Extract<LoadReport, { type: 'done' }>>((resolve, reject) => {
          const child = fork(join(__dirname, 'scale-load.ts'), [], {
            execArgv: ['-r', 'ts-node/register/transpile-only'],
          });
          child.on('message', (message: LoadReport) => {
            if (message.type === 'first') {
              if (++firstDone === orders.length) {
                void Promise.all([rssKb(pid), cpuMs(pid)]).then(([rss, cpu]) => {
                  rssAtFirst = rss;
                  cpuAtFirst = cpu;
                });
              }
              return;
            }
            child.kill();
            resolve(message);
          });
          child.on('error', reject);
          child.send(order);
        }),
    ),
  );
  const wallMs = performance.now() - t0;
  const loopDelayP99Ms = watch.stop();
  return {
    firsts: reports.flatMap((r) => r.firsts),
    errors: reports.reduce((n, r) => n + r.errors, 0),
    completed: reports.reduce((n, r) => n + r.completed, 0),
    reasons: reports.reduce<Record<string, number>>((all, r) => {
      for (const [k, v] of Object.entries(r.reasons)) all[k] = (all[k] ?? 0) + v;
      return all;
    }, {}),
    rssGrowthKb: rssAtFirst - baseline,
    cpuToFirstMs: cpuAtFirst - cpu0,
    cpuMs: (await cpuMs(pid)) - cpu0,
    loopDelayP99Ms,
    wallMs,
  };
}

/**
 * A warm router, as in service: a freshly booted one runs its first thousand requests in unoptimized code.
 * 400 one-token streams (half a second each at 2 tokens/s), 100 at a time.
 */
async function warmUp(url: string): Promise<void> {
  const short = JSON.stringify({
    model: 'simulated/paced',
    messages: [{ role: 'user', content: 'warm-up' }],
    stream: true,
    max_tokens: 1,
  });
  for (let round = 0; round < 4; round++) {
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: short,
        });
        await res.text();
      }),
    );
  }
}

async function router(words: number): Promise<{ url: string; pid: number; close: () => void }> {
  return spawnServer('router-simulated-paced', {
    TOKENS_PER_SECOND: '2',
    FIRST_TOKEN_DELAY: '0',
    WORDS: String(words),
    KEY_PREFIX: 'cb-bench-scale:',
  });
}

const body = JSON.stringify({
  model: 'simulated/paced',
  messages: [{ role: 'user', content: 'benchmark' }],
  stream: true,
});

function row(name: string, streams: number, o: Outcome): string {
  const { p50, p99 } = percentiles(o.firsts);
  const perStream = (o.rssGrowthKb / streams).toFixed(1);
  const why = Object.entries(o.reasons)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  return (
    `| ${name} | ${o.completed} / ${streams} (${o.errors} errors${why ? `: ${why}` : ''}) | ${fmt(p50, 0)} / ${fmt(p99, 0)} | ` +
    `${perStream} | ${fmt(o.cpuToFirstMs / streams, 2)} / ${fmt(o.cpuMs / streams, 2)} | ${fmt(o.loopDelayP99Ms, 1)} | ${fmt(o.wallMs / 1000, 1)} |`
  );
}

export async function scalePath(): Promise<void> {
  const tenth = process.env.BENCH_SCALE === '1';
  const n = (count: number) => (tenth ? count / 10 : count);
  console.log(`\nScale on one router process (simulated provider, 2 tokens/s, Node ${process.version})\n`);
  console.log(
    '| scenario | completed | first content p50 / p99 ms | RSS per open stream KB | CPU ms per stream: to first content / in all | event-loop delay p99 ms (worst second) | wall s |',
  );
  console.log('|---|---|---|---|---|---|---|');
  const sse = (count: number, windowMs: number) =>
    Array.from({ length: LOADERS }, (): LoadOrder => ({
      type: 'sse',
      url: '',
      count: count / LOADERS,
      windowMs,
      body,
    }));

  const parts = new Set((process.env.BENCH_SCALE_PARTS ?? 'sse2k,sse10k,ws5k').split(','));
  if (parts.has('sse2k')) {
    const r = await router(20);
    const orders = sse(n(2_000), 200).map((o) => ({ ...o, url: r.url }));
    console.log(
      row(`${n(2_000)} SSE streams requested within 200 ms`, n(2_000), await run(r.pid, r.url, orders)),
    );
    r.close();
  }
  if (parts.has('sse10k')) {
    const r = await router(40);
    const orders = sse(n(10_000), 2_000).map((o) => ({ ...o, url: r.url }));
    console.log(
      row(
        `${n(10_000)} SSE streams open at once (requested over 2 s)`,
        n(10_000),
        await run(r.pid, r.url, orders),
      ),
    );
    r.close();
  }
  if (parts.has('ws5k')) {
    const r = await router(20);
    const orders = Array.from({ length: LOADERS }, (): LoadOrder => ({
      type: 'ws',
      url: r.url,
      sockets: n(250) / LOADERS,
      perSocket: 20,
      windowMs: 200,
      request: { model: 'simulated/paced', messages: [{ role: 'user', content: 'benchmark' }] },
    }));
    console.log(
      row(
        `${n(5_000)} /ws/stream completions (${n(250)} sockets × 20) within 200 ms`,
        n(5_000),
        await run(r.pid, r.url, orders),
      ),
    );
    r.close();
  }
}
