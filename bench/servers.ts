/**
 * The servers a bench run compares, each started in its own process so that the load generator, the router and
 * the upstream do not share one event loop (in one process, an upstream writing a burst of frames would hold
 * back the router's first chunk until the burst ends, which is not what a network upstream does).
 *   node -r ts-node/register/transpile-only bench/servers.ts <kind>   ->  prints "READY <base url>"
 * kinds: fake-openai; router-openai, router-openai-masking, router-openai-jwt (need UPSTREAM_URL);
 * router-simulated; router-simulated-paced (TOKENS_PER_SECOND, FIRST_TOKEN_DELAY, WORDS, KEY_PREFIX: the stream hub
 * benches, several nodes on one Redis prefix, no per-address connection cap);
 * WORKERS=n runs n of a kind as node:cluster workers on one port; direct-simulated (needs WORDS); bare-proxy (needs UPSTREAM_URL: node:http in, undici out, bytes piped).
 */
import cluster from 'node:cluster';
import { createApp } from '../src/app.factory';
import { loadConfig } from '../src/config/config.loader';
import { openAiWire } from '../test/fakes/openai.fake';
import { VendorFake } from '../test/fakes/vendor-fake';
import { startBareProxy } from './bare-proxy';
import { startDirectServer } from './direct-server';

export const STREAM_WORDS = 200;
export const BENCH_JWT_SECRET = 'bench-only-secret-0123456789abcdef0123456789';
const BENCH_AUTH = {
  mode: 'jwt',
  jwt: { secret: BENCH_JWT_SECRET },
  rate_limits: {
    tiers: { default: { requests_per_minute: 100_000_000, concurrent_streams: 1_000_000 } },
  },
};
export const SHORT_WORDS = 16;

async function startRouter(layer: Record<string, unknown>): Promise<string> {
  const config = loadConfig({
    env: {},
    overrides: [{ server: { host: '127.0.0.1', port: 0, log_level: 'silent' } }, layer],
  });
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1', backlog: config.server.listen_backlog });
  return `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
}

async function start(kind: string): Promise<string> {
  switch (kind) {
    case 'fake-openai':
      return (await new VendorFake(openAiWire, { record: false }).start()).url;
    case 'router-openai':
    case 'router-openai-masking':
    case 'router-openai-jwt':
      return startRouter({
        // The other kinds mask PII in every stream, or want a JWT and count rate limits in Redis on every
        // request (limits high enough never to refuse), to measure what each costs.
        sanitization: { streams: kind === 'router-openai-masking' },
        ...(kind === 'router-openai-jwt' ? { auth: BENCH_AUTH } : {}),
        providers: {
          openai: {
            type: 'openai',
            base_url: `${process.env.UPSTREAM_URL}/v1`,
            api_key: 'sk-bench-not-a-key',
          },
        },
        models: [{ id: 'openai/bench', provider: 'openai', upstream: 'gpt-bench' }],
        // Its own keys; the bench's workflow runs are kept briefly.
        redis: { key_prefix: 'cb-bench:' },
        workflows: { run_retention: '1m', directory: '' },
      });
    case 'router-simulated':
      return startRouter({
        providers: { simulated: { type: 'simulated', tokens_per_second: 0, first_token_delay: 0 } },
        models: [
          {
            id: 'simulated/lorem',
            provider: 'simulated',
            upstream: 'lorem',
            options: { length: STREAM_WORDS },
          },
          {
            id: 'simulated/short',
            provider: 'simulated',
            upstream: 'lorem',
            options: { length: SHORT_WORDS },
          },
        ],
      });
    case 'router-simulated-paced':
      return startRouter({
        // Paced like a model, so that a follower's delay is measured against chunks that arrive one by one.
        providers: {
          simulated: {
            type: 'simulated',
            tokens_per_second: Number(process.env.TOKENS_PER_SECOND ?? 50),
            first_token_delay: Number(process.env.FIRST_TOKEN_DELAY ?? 0),
          },
        },
        models: [
          {
            id: 'simulated/paced',
            provider: 'simulated',
            upstream: 'lorem',
            options: { length: Number(process.env.WORDS ?? STREAM_WORDS) },
          },
        ],
        // Every node of one bench on the same keys (the hub's registry and mirror); thousands of sockets
        // from 127.0.0.1.
        redis: { key_prefix: process.env.KEY_PREFIX ?? 'cb-bench-hub:' },
        server: { max_connections_per_ip: 0 },
        streaming: {
          protocols: {
            websocket: { max_connections: 20_000 },
            sse: { max_connections: 20_000 },
          },
        },
      });
    case 'bare-proxy':
      return (await startBareProxy(process.env.UPSTREAM_URL ?? '')).url;
    case 'direct-simulated':
      return (await startDirectServer(Number(process.env.WORDS))).url;
    default:
      throw new Error(`unknown server kind ${kind}`);
  }
}

/** WORKERS=n (n > 1): a node:cluster primary forks n workers of the kind on one port (worker_threads). */
function startCluster(workers: number): void {
  // Every worker listens on the same shared port: one URL, printed once all have reported.
  let reported = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (message: { ready?: string }) => {
      if (typeof message.ready !== 'string') return;
      if (++reported === workers) console.log(`READY ${message.ready}`);
    });
  }
  // Its workers exit when it does (their IPC channel closes).
}

if (require.main === module) {
  // Exit cleanly on a signal, so `node --cpu-prof bench/servers.ts ...` writes its profile.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));
  const workers = Number(process.env.WORKERS ?? 1);
  if (workers > 1 && cluster.isPrimary) startCluster(workers);
  else
    start(process.argv[2] ?? '').then(
      (url) => (cluster.isWorker ? process.send?.({ ready: url }) : console.log(`READY ${url}`)),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
}
