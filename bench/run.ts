/**
 * npm run bench: the router against a bare node:http server running the same simulated provider (see
 * direct-server.ts), on this machine, in one run. Load generator, router and baseline share the cores,
 * so read the ratios, not the absolute numbers. Options: BENCH_SECONDS (default 5).
 */
import { createApp } from '../src/app.factory';
import { loadConfig } from '../src/config/config.loader';
import { OpenAiChunkSerializer } from '../src/http/openai/openai-chunk.serializer';
import { startDirectServer } from './direct-server';
import { closedLoop, type LoadResult } from './load';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const STREAM_WORDS = 200;
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function main(): Promise<void> {
  const config = loadConfig({
    env: {},
    overrides: [
      {
        server: { host: '127.0.0.1', port: 0, log_level: 'silent' },
        providers: { simulated: { type: 'simulated', tokens_per_second: 0, first_token_delay: 0 } },
        models: [
          {
            id: 'simulated/lorem',
            provider: 'simulated',
            upstream: 'lorem',
            options: { length: STREAM_WORDS },
          },
          { id: 'simulated/short', provider: 'simulated', upstream: 'lorem', options: { length: 16 } },
        ],
      },
    ],
  });
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const routerUrl = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/v1/chat/completions`;
  const directStream = await startDirectServer(STREAM_WORDS);
  const directShort = await startDirectServer(16);

  const messages = [{ role: 'user', content: 'benchmark' }];
  const plainRouter = JSON.stringify({ model: 'simulated/short', messages, seed: 1 });
  const plainDirect = JSON.stringify({ model: 'simulated/short', messages, seed: 1 });
  const stream = (model: string) => JSON.stringify({ model, messages, seed: 1, stream: true });

  const rows: Array<[string, LoadResult, LoadResult]> = [];
  const measure = async (
    name: string,
    direct: () => Promise<LoadResult>,
    router: () => Promise<LoadResult>,
  ) => {
    await direct();
    await router(); // warm-up, discarded
    rows.push([name, await direct(), await router()]);
  };

  await measure(
    'non-streaming, concurrency 32',
    () => closedLoop(directShort.url, plainDirect, 32, SECONDS),
    () => closedLoop(routerUrl, plainRouter, 32, SECONDS),
  );
  await measure(
    `streaming ${STREAM_WORDS}-word answers, 1 client`,
    () => closedLoop(directStream.url, stream('simulated/lorem'), 1, SECONDS),
    () => closedLoop(routerUrl, stream('simulated/lorem'), 1, SECONDS),
  );
  await measure(
    `streaming ${STREAM_WORDS}-word answers, 100 concurrent`,
    () => closedLoop(directStream.url, stream('simulated/lorem'), 100, SECONDS),
    () => closedLoop(routerUrl, stream('simulated/lorem'), 100, SECONDS),
  );

  console.log(
    `\nCircuit Breaker bench (${SECONDS}s per run, Node ${process.version}, simulated provider at full speed)\n`,
  );
  console.log('| scenario | metric | direct | router | router/direct |');
  console.log('|---|---|---|---|---|');
  for (const [name, d, r] of rows) {
    const rps = (x: LoadResult) => x.requests / x.seconds;
    const fps = (x: LoadResult) => x.frames / x.seconds;
    console.log(`| ${name} | requests/s | ${fmt(rps(d))} | ${fmt(rps(r))} | ${fmt(rps(r) / rps(d), 2)} |`);
    console.log(
      `| ${name} | latency p50 / p99 ms | ${fmt(d.latency.p50)} / ${fmt(d.latency.p99)} | ${fmt(r.latency.p50)} / ${fmt(r.latency.p99)} | +${fmt(r.latency.p50 - d.latency.p50, 2)} ms p50 |`,
    );
    if (name.startsWith('streaming')) {
      console.log(
        `| ${name} | first chunk p50 / p99 ms | ${fmt(d.firstChunk.p50)} / ${fmt(d.firstChunk.p99)} | ${fmt(r.firstChunk.p50)} / ${fmt(r.firstChunk.p99)} | +${fmt(r.firstChunk.p50 - d.firstChunk.p50, 2)} ms p50 |`,
      );
      console.log(
        `| ${name} | chunks/s | ${fmt(fps(d), 0)} | ${fmt(fps(r), 0)} | ${fmt(fps(r) / fps(d), 2)} |`,
      );
    }
    if (d.errors + r.errors > 0) console.log(`| ${name} | errors | ${d.errors} | ${r.errors} | |`);
  }

  console.log('\nChunk serialization (hot path), ns per content chunk:');
  console.log(`| serializer | ns/chunk |\n|---|---|`);
  for (const [name, ns] of serializerBench()) console.log(`| ${name} | ${fmt(ns, 0)} |`);

  await app.close();
  await directStream.close();
  await directShort.close();
}

/** The per-stream template serializer against a JSON.stringify of a whole chunk object. */
function serializerBench(): Array<[string, number]> {
  const identity = {
    completionId: 'chatcmpl-abcdefghijklmnop',
    created: 1700000000,
    model: 'simulated/lorem',
    provider: 'simulated',
  };
  const N = 500_000;
  const event = {
    type: 'content_chunk' as const,
    completionId: identity.completionId,
    content: ' lorem',
    index: 0,
  };
  const template = new OpenAiChunkSerializer(identity, true);
  template.frame(event);
  let sink = 0;
  const time = (fn: () => string) => {
    for (let i = 0; i < 50_000; i++) sink += fn().length;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += fn().length;
    return Number(process.hrtime.bigint() - t0) / N;
  };
  const templated = time(() => template.frame(event));
  const naive = time(
    () =>
      `data: ${JSON.stringify({
        id: identity.completionId,
        object: 'chat.completion.chunk',
        created: identity.created,
        model: identity.model,
        provider: identity.provider,
        system_fingerprint: null,
        choices: [{ index: 0, delta: { content: event.content }, logprobs: null, finish_reason: null }],
        usage: null,
      })}\n\n`,
  );
  if (sink === 0) console.log('');
  return [
    ['per-stream template (used)', templated],
    ['JSON.stringify of the chunk object', naive],
  ];
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
