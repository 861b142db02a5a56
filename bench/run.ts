/**
 * npm run bench, in one run on this machine:
 *   1. the vendor path: a fake OpenAI upstream (test/fakes) called directly, against the same calls through
 *      the router (HTTP in, undici pool out, SSE parsing and re-serialization; also over the WebSocket edge);
 *   2. the framework: the router on its in-process simulated provider against a bare node:http server running
 *      the same provider and serializer (direct-server.ts).
 * Load generator, router and upstream share the cores, so read the ratios, not the absolute numbers.
 *   3. security: the vendor path with stream masking off and on, auth off and on, and the masker alone.
 *   4. the stream hub (bench/hub.ts): GraphQL against SSE on the completion's node, a follower on another node,
 *      WebSocket fan-out to 1,000 and 10,000 subscribers; with BENCH_BASE=<a worktree of the commit before the
 *      hub>, the vendor SSE rows of that commit against this one, alternated.
 *   5. the floor and a peer (bench/proxy.ts): direct, a bare Node proxy, the router and Portkey's gateway.
 *   6. scale on one instance (bench/scale.ts): thousands of slow SSE and /ws/stream streams, RSS per stream.
 * Options: BENCH_SECONDS (default 5), BENCH_ONLY=vendor|framework|masking|hub|proxy|scale, BENCH_BASE,
 * BENCH_PORTKEY=0, BENCH_SCALE=1.
 */
import { loadConfig } from '../src/config/config.loader';
import { OpenAiChunkSerializer } from '../src/http/openai/openai-chunk.serializer';
import { createSanitizer } from '../src/sanitization/sanitization.service';
import { fmt, pair, type Row, spawnServer } from './harness';
import { hubPath } from './hub';
import { proxyPath } from './proxy';
import { scalePath } from './scale';
import { BENCH_JWT_SECRET, SHORT_WORDS, STREAM_WORDS } from './servers';
import { JwtService } from '@nestjs/jwt';
import { closedLoop, graphqlClosedLoop, type LoadResult, workflowClosedLoop, wsClosedLoop } from './load';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ONLY = process.env.BENCH_ONLY;

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

/** Direct calls to a fake OpenAI upstream against the same calls through the router's openai provider. */
async function vendorPath(): Promise<Row[]> {
  const upstream = await spawnServer('fake-openai');
  const router = await spawnServer('router-openai', { UPSTREAM_URL: upstream.url });
  const directUrl = `${upstream.url}/v1/chat/completions`;
  const routerUrl = `${router.url}/v1/chat/completions`;
  // The fake echoes the user message word by word: SHORT_WORDS for plain requests, STREAM_WORDS for streams.
  const body = (model: string, n: number, stream: boolean) =>
    JSON.stringify({
      model,
      messages: [{ role: 'user', content: words(n) }],
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
  const run = (name: string, n: number, stream: boolean, concurrency: number) =>
    pair(
      `fake OpenAI upstream: ${name}`,
      () => closedLoop(directUrl, body('gpt-bench', n, stream), concurrency, SECONDS),
      () => closedLoop(routerUrl, body('openai/bench', n, stream), concurrency, SECONDS),
    );
  // The WebSocket edge against the same direct SSE calls: one socket, completions multiplexed on it.
  const overWs = (name: string, concurrency: number) =>
    pair(
      `fake OpenAI upstream: ${name}`,
      () => closedLoop(directUrl, body('gpt-bench', STREAM_WORDS, true), concurrency, SECONDS),
      () =>
        wsClosedLoop(
          router.url,
          { model: 'openai/bench', messages: [{ role: 'user', content: words(STREAM_WORDS) }] },
          concurrency,
          SECONDS,
        ),
    );
  // The GraphQL edge: createCompletion then completionStream, every event through the Redis event bus.
  const overGraphql = (name: string, concurrency: number) =>
    pair(
      `fake OpenAI upstream: ${name}`,
      () => closedLoop(directUrl, body('gpt-bench', STREAM_WORDS, true), concurrency, SECONDS),
      () =>
        graphqlClosedLoop(
          router.url,
          { model: 'openai/bench', messages: [{ role: 'user', content: words(STREAM_WORDS) }] },
          concurrency,
          SECONDS,
        ),
    );
  // A one-agent workflow whose agent makes the same streaming call: a run per loop, its events over SSE.
  const created = await fetch(`${router.url}/v1/workflows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      id: 'bench-agent',
      places: [
        { id: 'in', initial: true },
        { id: 'out', final: true },
      ],
      transitions: [
        {
          id: 'answer',
          inputs: ['in'],
          outputs: ['out'],
          action: { type: 'agent', model: 'openai/bench', prompt: '{{text}}' },
        },
      ],
    }),
  });
  // 409: made by an earlier bench run (definitions are kept).
  if (created.status !== 201 && created.status !== 409)
    throw new Error(`bench workflow refused: ${await created.text()}`);
  const asWorkflow = (name: string, concurrency: number) =>
    pair(
      `fake OpenAI upstream: ${name}`,
      () => closedLoop(directUrl, body('gpt-bench', STREAM_WORDS, true), concurrency, SECONDS),
      () =>
        workflowClosedLoop(router.url, 'bench-agent', { text: words(STREAM_WORDS) }, concurrency, SECONDS),
    );
  const rows = [
    await run('non-streaming, concurrency 32', SHORT_WORDS, false, 32),
    await run(`streaming ${STREAM_WORDS} chunks, 1 client`, STREAM_WORDS, true, 1),
    await run(`streaming ${STREAM_WORDS} chunks, 100 concurrent`, STREAM_WORDS, true, 100),
    await overWs(`streaming ${STREAM_WORDS} chunks over WebSocket, 1 at a time`, 1),
    // 32: the default max_completions_per_connection.
    await overWs(`streaming ${STREAM_WORDS} chunks over WebSocket, 32 multiplexed on one socket`, 32),
    await overGraphql(
      `streaming ${STREAM_WORDS} chunks over GraphQL (mutation + subscription), 1 at a time`,
      1,
    ),
    await overGraphql(`streaming ${STREAM_WORDS} chunks over GraphQL, 32 on one graphql-ws connection`, 32),
    await asWorkflow(`a one-agent workflow run (${STREAM_WORDS} chunks) followed over SSE, 1 at a time`, 1),
    await asWorkflow(`one-agent workflow runs, 8 at a time`, 8),
  ];
  router.close();
  upstream.close();
  return rows;
}

/** The router on its in-process simulated provider against a bare node:http server with the same provider. */
async function frameworkPath(): Promise<Row[]> {
  const router = await spawnServer('router-simulated');
  const directStream = await spawnServer('direct-simulated', { WORDS: String(STREAM_WORDS) });
  const directShort = await spawnServer('direct-simulated', { WORDS: String(SHORT_WORDS) });
  const routerUrl = `${router.url}/v1/chat/completions`;
  const messages = [{ role: 'user', content: 'benchmark' }];
  const plain = JSON.stringify({ model: 'simulated/short', messages, seed: 1 });
  const stream = JSON.stringify({ model: 'simulated/lorem', messages, seed: 1, stream: true });
  const rows = [
    await pair(
      'simulated provider: non-streaming, concurrency 32',
      () => closedLoop(directShort.url, plain, 32, SECONDS),
      () => closedLoop(routerUrl, plain, 32, SECONDS),
    ),
    await pair(
      `simulated provider: streaming ${STREAM_WORDS}-word answers, 1 client`,
      () => closedLoop(directStream.url, stream, 1, SECONDS),
      () => closedLoop(routerUrl, stream, 1, SECONDS),
    ),
    await pair(
      `simulated provider: streaming ${STREAM_WORDS}-word answers, 100 concurrent`,
      () => closedLoop(directStream.url, stream, 100, SECONDS),
      () => closedLoop(routerUrl, stream, 100, SECONDS),
    ),
  ];
  router.close();
  directStream.close();
  directShort.close();
  return rows;
}

/**
 * What security costs: the same streams through a router with `sanitization.streams` off and one with it on,
 * and requests with auth off against JWT verification and Redis rate limits (all calling the fake upstream).
 */
async function securityPath(): Promise<Row[]> {
  const upstream = await spawnServer('fake-openai');
  const off = await spawnServer('router-openai', { UPSTREAM_URL: upstream.url });
  const on = await spawnServer('router-openai-masking', { UPSTREAM_URL: upstream.url });
  const body = JSON.stringify({
    model: 'openai/bench',
    messages: [{ role: 'user', content: words(STREAM_WORDS) }],
    stream: true,
  });
  const run = (name: string, concurrency: number) =>
    pair(
      `masking off (direct column) vs on (router column): streaming ${STREAM_WORDS} chunks, ${name}`,
      () => closedLoop(`${off.url}/v1/chat/completions`, body, concurrency, SECONDS),
      () => closedLoop(`${on.url}/v1/chat/completions`, body, concurrency, SECONDS),
    );
  const rows = [await run('1 client', 1), await run('100 concurrent', 100)];
  on.close();
  // Authentication: the same router with a JWT to verify and both rate limits counted in Redis per request.
  const jwt = await spawnServer('router-openai-jwt', { UPSTREAM_URL: upstream.url });
  const now = Math.floor(Date.now() / 1000);
  const headers = {
    authorization: `Bearer ${new JwtService().sign({ sub: 'bench', exp: now + 3600 }, { secret: BENCH_JWT_SECRET })}`,
  };
  const plain = JSON.stringify({
    model: 'openai/bench',
    messages: [{ role: 'user', content: words(SHORT_WORDS) }],
  });
  rows.push(
    await pair(
      'auth off (direct column) vs JWT + rate limits (router column): non-streaming, concurrency 32',
      () => closedLoop(`${off.url}/v1/chat/completions`, plain, 32, SECONDS),
      () => closedLoop(`${jwt.url}/v1/chat/completions`, plain, 32, SECONDS, headers),
    ),
    await pair(
      `auth off (direct column) vs JWT + rate limits (router column): streaming ${STREAM_WORDS} chunks, 1 client`,
      () => closedLoop(`${off.url}/v1/chat/completions`, body, 1, SECONDS),
      () => closedLoop(`${jwt.url}/v1/chat/completions`, body, 1, SECONDS, headers),
    ),
  );
  off.close();
  jwt.close();
  upstream.close();
  return rows;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  if (ONLY === undefined || ONLY === 'vendor') rows.push(...(await vendorPath()));
  if (ONLY === undefined || ONLY === 'framework') rows.push(...(await frameworkPath()));
  if (ONLY === undefined || ONLY === 'masking') rows.push(...(await securityPath()));
  if (rows.length > 0) report(rows);
  if (ONLY === undefined || ONLY === 'masking') maskerReport();
  if (ONLY === undefined || ONLY === 'hub') await hubPath(SECONDS, process.env.BENCH_BASE);
  if (ONLY === undefined || ONLY === 'proxy') await proxyPath(SECONDS);
  if (ONLY === undefined || ONLY === 'scale') await scalePath();
}

/**
 * The masker alone on LLM-like deltas (a word and its space per chunk, prose with an email, a phone number
 * and a key in it): ns per chunk, and how much text it holds back. A held character leaves with a later chunk,
 * so its added latency is the upstream's gap between chunks (one chunk for the tail of each word).
 */
function maskerReport(): void {
  const config = loadConfig({ env: {}, overrides: [{ sanitization: { streams: true } }] });
  const sanitizer = createSanitizer(config.sanitization);
  const prose =
    'Sure, here is the summary you asked for. Contact jane.doe@example.com or call +1 415-555-0100 ' +
    'about order 48213 before 2026-12-01; the staging key sk-proj-abcdefghijklmnopqrstu0123 was rotated. ';
  const chunks = (prose.repeat(20).match(/\S+\s*/g) ?? []).map((w, i) => (i % 3 === 0 ? w : ` ${w.trim()}`));
  const N = 200;
  let sink = 0;
  let heldChars = 0;
  let heldChunks = 0;
  let maxHeld = 0;
  let total = 0;
  const once = (measure: boolean) => {
    const masker = sanitizer.stream();
    for (const chunk of chunks) {
      sink += masker.push(chunk).length;
      if (measure) {
        total += chunk.length;
        heldChars += masker.held;
        if (masker.held > 0) heldChunks++;
        maxHeld = Math.max(maxHeld, masker.held);
      }
    }
    sink += masker.flush().length;
  };
  for (let i = 0; i < 20; i++) once(false);
  once(true);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) once(false);
  const nsPerChunk = Number(process.hrtime.bigint() - t0) / (N * chunks.length);
  if (sink === 0) console.log('');
  console.log('\nStreaming PII masker alone (LLM-like deltas, prose with an email, a phone and a key):');
  console.log('| metric | value |\n|---|---|');
  console.log(`| ns per chunk | ${fmt(nsPerChunk, 0)} |`);
  console.log(`| chunks after which something is held | ${fmt((100 * heldChunks) / chunks.length, 0)} % |`);
  console.log(
    `| characters held per chunk, mean / max | ${fmt(heldChars / chunks.length, 1)} / ${maxHeld} |`,
  );
  console.log(`| share of the text delayed by one chunk | ${fmt((100 * heldChars) / total, 0)} % |`);
}

function report(rows: Row[]): void {
  console.log(
    `\nCircuit Breaker bench (${SECONDS}s per run, Node ${process.version}, upstream and simulated provider at full speed)\n`,
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
    if (name.includes('streaming')) {
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
