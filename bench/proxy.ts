/**
 * The floor and a peer (`BENCH_ONLY=proxy`, part of the default run): the same fake OpenAI upstream called
 * directly, through a bare Node proxy (bare-proxy.ts: node:http in, undici out, bytes piped), through the
 * router, and through Portkey's open-source gateway (`@portkey-ai/gateway`, installed on demand into
 * bench/.peers, never a dependency of the project; `BENCH_PORTKEY=0` skips it). Every figure comes from the
 * same run: read router / bare proxy and router / Portkey, and the first-token overhead of each over direct.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../src/common/testing/free-port';
import { type Child, fmt, spawnServer } from './harness';
import { cpuMs } from './hub-tap';
import { closedLoop, type LoadResult, wsClosedLoop } from './load';
import { SHORT_WORDS, STREAM_WORDS } from './servers';

const PORTKEY_VERSION = '1.15.2';
const PEERS = join(__dirname, '.peers');

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
const rps = (x: LoadResult) => x.requests / x.seconds;
const fps = (x: LoadResult) => x.frames / x.seconds;

interface Target {
  name: string;
  run: () => Promise<LoadResult>;
  /** The process whose CPU time a request costs (the hop itself); none for direct calls. */
  pid?: number;
}

interface Measured {
  name: string;
  result: LoadResult;
  /** CPU ms of the hop's process per request, when it has one. */
  cpuPerRequest?: number;
}

export async function proxyPath(seconds: number): Promise<void> {
  const upstream = await spawnServer('fake-openai');
  const bare = await spawnServer('bare-proxy', { UPSTREAM_URL: upstream.url });
  const router = await spawnServer('router-openai', { UPSTREAM_URL: upstream.url });
  const portkey = process.env.BENCH_PORTKEY === '0' ? undefined : await startPortkey();
  const portkeyHeaders = {
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `${upstream.url}/v1`,
    authorization: 'Bearer sk-bench-not-a-key',
  };
  const body = (model: string, n: number, stream: boolean) =>
    JSON.stringify({
      model,
      messages: [{ role: 'user', content: words(n) }],
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
  const path = '/v1/chat/completions';
  const scenario = (n: number, stream: boolean, concurrency: number, overWs = false): Target[] => [
    {
      name: 'direct',
      run: () => closedLoop(upstream.url + path, body('gpt-bench', n, stream), concurrency, seconds),
    },
    {
      name: 'bare proxy',
      pid: bare.pid,
      run: () => closedLoop(bare.url + path, body('gpt-bench', n, stream), concurrency, seconds),
    },
    {
      name: overWs ? 'router /ws/stream' : 'router',
      pid: router.pid,
      run: overWs
        ? () =>
            wsClosedLoop(
              router.url,
              { model: 'openai/bench', messages: [{ role: 'user', content: words(n) }] },
              concurrency,
              seconds,
            )
        : () => closedLoop(router.url + path, body('openai/bench', n, stream), concurrency, seconds),
    },
    ...(portkey && !overWs
      ? [
          {
            name: 'Portkey',
            pid: portkey.pid,
            run: () =>
              closedLoop(
                portkey.url + path,
                body('gpt-bench', n, stream),
                concurrency,
                seconds,
                portkeyHeaders,
              ),
          },
        ]
      : []),
  ];

  console.log(
    `\nThe floor and a peer (${seconds}s per run, Node ${process.version}; fake OpenAI upstream on loopback)`,
  );
  if (portkey === undefined) console.log('(Portkey skipped: BENCH_PORTKEY=0 or it could not be installed)');
  report(`non-streaming, concurrency 32`, await measure(scenario(SHORT_WORDS, false, 32)), false);
  report(`streaming ${STREAM_WORDS} chunks, 1 client`, await measure(scenario(STREAM_WORDS, true, 1)), true);
  report(
    `streaming ${STREAM_WORDS} chunks, 100 concurrent`,
    await measure(scenario(STREAM_WORDS, true, 100)),
    true,
  );
  report(
    `streaming ${STREAM_WORDS} chunks, 1 client; the router over /ws/stream`,
    await measure(scenario(STREAM_WORDS, true, 1, true)),
    true,
  );
  report(
    `streaming ${STREAM_WORDS} chunks, 32 at once; the router's 32 multiplexed on one /ws/stream socket`,
    await measure(scenario(STREAM_WORDS, true, 32, true)),
    true,
  );
  router.close();

  // streaming.performance.worker_threads: one router process against two node:cluster workers on one port.
  const two = await spawnServer('router-openai', { UPSTREAM_URL: upstream.url, WORKERS: '2' });
  const one = await spawnServer('router-openai', { UPSTREAM_URL: upstream.url });
  const workers = async (title: string, n: number, stream: boolean, concurrency: number) => {
    const runs = [
      { name: '1 worker', url: one.url },
      { name: '2 workers', url: two.url },
    ].map((w) => ({
      name: w.name,
      run: () => closedLoop(w.url + path, body('openai/bench', n, stream), concurrency, seconds),
    }));
    const [a, b] = await measure(runs);
    const value = (x: Measured) => (stream ? fps(x.result) : rps(x.result));
    console.log(
      `| ${title} | ${fmt(value(a!), 0)} | ${fmt(value(b!), 0)} | ${fmt(value(b!) / value(a!), 2)} |`,
    );
  };
  console.log('\nOne router process against two workers (`worker_threads: 2`), same upstream, same run\n');
  console.log('| scenario | 1 worker | 2 workers | 2 / 1 |\n|---|---|---|---|');
  await workers('non-streaming, concurrency 32, requests/s', SHORT_WORDS, false, 32);
  await workers(`streaming ${STREAM_WORDS} chunks, 100 concurrent, chunks/s`, STREAM_WORDS, true, 100);
  one.close();
  two.close();
  portkey?.close();
  bare.close();
  upstream.close();
}

/** A warm-up of each target, then each measured in turn, CPU time of its process read around the run. */
async function measure(targets: Target[]): Promise<Measured[]> {
  for (const target of targets) await target.run();
  const out: Measured[] = [];
  for (const target of targets) {
    const before = target.pid === undefined ? 0 : await cpuMs(target.pid);
    const result = await target.run();
    const after = target.pid === undefined ? 0 : await cpuMs(target.pid);
    out.push({
      name: target.name,
      result,
      ...(target.pid === undefined ? {} : { cpuPerRequest: (after - before) / Math.max(1, result.requests) }),
    });
  }
  return out;
}

function report(title: string, rows: Measured[], streaming: boolean): void {
  const direct = rows[0]!;
  const bare = rows.find((r) => r.name === 'bare proxy')!;
  const router = rows.find((r) => r.name.startsWith('router'))!;
  const portkey = rows.find((r) => r.name === 'Portkey');
  console.log(`\n${title}\n`);
  console.log(
    streaming
      ? '| target | requests/s | first chunk p50 / p99 ms | over direct, p50 | chunks/s | CPU ms per request | errors |'
      : '| target | requests/s | latency p50 / p99 ms | over direct, p50 | CPU ms per request | errors |',
  );
  console.log(streaming ? '|---|---|---|---|---|---|---|' : '|---|---|---|---|---|---|');
  for (const row of rows) {
    const r = row.result;
    const p = streaming ? r.firstChunk : r.latency;
    const d = streaming ? direct.result.firstChunk : direct.result.latency;
    const over = row === direct ? '' : `+${fmt(p.p50 - d.p50, 2)} ms`;
    const cpu = row.cpuPerRequest === undefined ? '' : fmt(row.cpuPerRequest, 3);
    const cells = [row.name, fmt(rps(r)), `${fmt(p.p50, 2)} / ${fmt(p.p99, 2)}`, over];
    if (streaming) cells.push(fmt(fps(r), 0));
    cells.push(cpu, String(r.errors));
    console.log(`| ${cells.join(' | ')} |`);
  }
  const ratio = (a: number, b: number) => fmt(a / b, 2);
  const lines = [`router / bare proxy: ${ratio(rps(router.result), rps(bare.result))} of requests/s`];
  if (streaming) {
    const first = (x: Measured) => x.result.firstChunk.p50 - direct.result.firstChunk.p50;
    lines.push(
      `${ratio(fps(router.result), fps(bare.result))} of chunks/s`,
      `first-token overhead ${fmt(first(router) - first(bare), 2)} ms p50 above the bare proxy's`,
    );
  }
  if (portkey) {
    const failed = portkey.result.errors >= portkey.result.requests;
    lines.push(
      failed
        ? 'Portkey answered every request with an error (see its log)'
        : `router / Portkey: ${ratio(rps(router.result), rps(portkey.result))} of requests/s`,
    );
  }
  console.log(`\n${lines.join('; ')}`);
}

/** Portkey's gateway from bench/.peers (installed there the first time), on a free port. */
async function startPortkey(): Promise<Child | undefined> {
  const entry = join(PEERS, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
  if (!existsSync(entry)) {
    try {
      mkdirSync(PEERS, { recursive: true });
      console.log(`(installing @portkey-ai/gateway@${PORTKEY_VERSION} into bench/.peers for the comparison)`);
      execFileSync(
        'npm',
        [
          'install',
          '--prefix',
          PEERS,
          '--no-audit',
          '--no-fund',
          '--no-save',
          '--ignore-scripts',
          `@portkey-ai/gateway@${PORTKEY_VERSION}`,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 },
      );
    } catch (err) {
      console.log(`(Portkey could not be installed: ${err instanceof Error ? err.message : String(err)})`);
      return undefined;
    }
  }
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [entry, `--port=${port}`, '--headless'], {
    cwd: PEERS,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.on('exit', () => child.kill());
  return new Promise((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(undefined), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!out.includes('Ready for connections')) return;
      clearTimeout(timer);
      resolve({ url: `http://127.0.0.1:${port}`, pid: child.pid ?? 0, close: () => child.kill() });
    });
    // Its per-request error log, when it fails, is printed once in a shortened form.
    let logged = false;
    child.stderr?.on('data', (chunk: Buffer) => {
      if (logged) return;
      logged = true;
      console.log(`(Portkey: ${chunk.toString().split('\n')[0]?.slice(0, 160)})`);
    });
    child.on('exit', () => resolve(undefined));
  });
}
