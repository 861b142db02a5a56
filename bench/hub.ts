/**
 * The stream hub bench (`BENCH_ONLY=hub`, part of the default run), every figure compared within the run:
 *   1. GraphQL `completionStream` against the SSE edge, on the node running the completion, same fake upstream;
 *   2. a follower on another node: two routers on one Redis prefix, a completion started over POST SSE on A and
 *      followed on B (GET /v1/chat/completions/{id}/events); each chunk's arrival at B's client against A's;
 *   3. fan-out: one completion followed by 1,000 WebSocket subscribers, then 10,000 over 100 completions, the
 *      subscribers held by receiver processes (hub-receivers.ts) so that no one event loop holds them all;
 *   4. with BENCH_BASE, the vendor SSE rows of the commit before the hub against this checkout, alternated.
 * Every arrival time is taken on the machine's monotonic clock (hub-tap.ts `now`), so times taken by the
 * bench process and by its receiver processes compare.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { type Child, fmt, pair, type Row, spawnServer } from './harness';
import type { ParentMessage, ReceiverReport } from './hub-receivers';
import { cpuMs, followerDelays, now, type Tap, tapSse } from './hub-tap';
import { closedLoop, graphqlClosedLoop, type LoadResult, percentiles } from './load';
import { SHORT_WORDS, STREAM_WORDS } from './servers';

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
const pct = (samples: number[]) => {
  const { p50, p99 } = percentiles(samples);
  return `${fmt(p50, 2)} / ${fmt(p99, 2)}`;
};
const fps = (x: LoadResult) => x.frames / x.seconds;
const rps = (x: LoadResult) => x.requests / x.seconds;

/** A stream of a paced model (the simulated provider): its chunks arrive one by one, as from a model. */
const pacedBody = JSON.stringify({
  model: 'simulated/paced',
  messages: [{ role: 'user', content: 'benchmark' }],
  stream: true,
});

/** A difference with its sign: +1.20, −0.40. */
const signed = (value: number, digits: number) => `${value < 0 ? '−' : '+'}${fmt(Math.abs(value), digits)}`;

/** BENCH_HUB=graphql,follow,fanout,before picks parts (all by default; `before` also needs BENCH_BASE). */
export async function hubPath(seconds: number, base?: string): Promise<void> {
  const parts = new Set((process.env.BENCH_HUB ?? 'graphql,follow,fanout,before').split(','));
  console.log(`\nStream hub (${seconds}s per run, Node ${process.version})`);
  if (parts.has('graphql')) await graphqlAgainstSse(seconds);
  if (parts.has('follow')) await crossNode(seconds);
  if (parts.has('fanout')) {
    await fanOut({ subscribers: 1_000, completions: 1, tokensPerSecond: 20, words: 60, receivers: 2 });
    await fanOut({ subscribers: 10_000, completions: 100, tokensPerSecond: 5, words: 20, receivers: 4 });
  }
  if (!parts.has('before')) return;
  if (base !== undefined) await beforeAfter(seconds, base);
  else
    console.log('\n(BENCH_BASE unset: the before/after rows against the commit before the hub are skipped)');
}

/** 1. GraphQL createCompletion + completionStream against POST SSE, same router, same fake upstream. */
async function graphqlAgainstSse(seconds: number): Promise<void> {
  const upstream = await spawnServer('fake-openai');
  const router = await spawnServer('router-openai', { UPSTREAM_URL: upstream.url });
  const content = words(STREAM_WORDS);
  const sse = JSON.stringify({
    model: 'openai/bench',
    messages: [{ role: 'user', content }],
    stream: true,
  });
  const input = { model: 'openai/bench', messages: [{ role: 'user', content }] };
  const run = (concurrency: number) =>
    pair(
      `${concurrency}`,
      () => closedLoop(`${router.url}/v1/chat/completions`, sse, concurrency, seconds),
      () => graphqlClosedLoop(router.url, input, concurrency, seconds),
    );
  const rows: Row[] = [await run(1), await run(32)];
  router.close();
  upstream.close();
  console.log(
    `\nGraphQL completionStream against the SSE edge, same node, fake OpenAI upstream, ${STREAM_WORDS} chunks:`,
  );
  console.log('| concurrency | metric | SSE | GraphQL | GraphQL/SSE |\n|---|---|---|---|---|');
  for (const [concurrency, s, g] of rows) {
    console.log(
      `| ${concurrency} | chunks/s | ${fmt(fps(s), 0)} | ${fmt(fps(g), 0)} | ${fmt(fps(g) / fps(s), 2)} |`,
    );
    console.log(
      `| ${concurrency} | first chunk p50 / p99 ms | ${fmt(s.firstChunk.p50, 2)} / ${fmt(s.firstChunk.p99, 2)} | ` +
        `${fmt(g.firstChunk.p50, 2)} / ${fmt(g.firstChunk.p99, 2)} | ${signed(g.firstChunk.p50 - s.firstChunk.p50, 2)} ms p50 |`,
    );
    if (s.errors + g.errors > 0) console.log(`| ${concurrency} | errors | ${s.errors} | ${g.errors} | |`);
  }
}

/** Closed loops of one paced completion started on `origin` over POST SSE and followed on `follow`. */
async function followLoops(
  origin: string,
  follow: string,
  concurrency: number,
  seconds: number,
  /** Loop i starts i × this later (0: all at once, so their starts and ends stay in step). */
  staggerMs = 0,
): Promise<{ delays: number[]; streams: number; errors: number }> {
  const starters = new Agent({ keepAlive: true, maxSockets: concurrency });
  const followers = new Agent({ keepAlive: true, maxSockets: concurrency });
  const delays: number[] = [];
  let streams = 0;
  let errors = 0;
  const deadline = now() + staggerMs * concurrency + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * staggerMs));
      while (now() < deadline) {
        let follower: Promise<Tap | undefined> | undefined;
        const reference = await tapSse(
          starters,
          `${origin}/v1/chat/completions`,
          { method: 'POST', body: pacedBody },
          (id) => {
            follower = tapSse(followers, `${follow}/v1/chat/completions/${id}/events?after=0`, {
              method: 'GET',
              timeoutMs: 15_000,
            }).catch(() => undefined);
          },
        );
        const followed = await follower;
        streams++;
        if (reference.status !== 200 || followed?.status !== 200) {
          errors++;
          if (process.env.BENCH_DEBUG) console.log('error', reference.status, followed?.status);
        } else followerDelays(reference, followed, delays);
      }
    }),
  );
  starters.destroy();
  followers.destroy();
  return { delays, streams, errors };
}

/** 2. A follower on another node (and, for comparison, one on the completion's own node). */
async function crossNode(seconds: number, concurrency = 100): Promise<void> {
  const tokensPerSecond = 50;
  const length = 100;
  const env = {
    TOKENS_PER_SECOND: String(tokensPerSecond),
    WORDS: String(length),
    KEY_PREFIX: `cb-bench-hub-${process.pid}:`,
  };
  const a = await spawnServer('router-simulated-paced', env);
  const b = await spawnServer('router-simulated-paced', env);
  // Warm-up: node A's first completions alone (its Redis connections up), then followed.
  await closedLoop(`${a.url}/v1/chat/completions`, pacedBody, 10, 1);
  await followLoops(a.url, b.url, 10, 1);
  const cpu0 = [await cpuMs(a.pid), await cpuMs(b.pid)];
  const t0 = now();
  const remote = await followLoops(a.url, b.url, concurrency, seconds);
  const wall = now() - t0;
  const cpu1 = [await cpuMs(a.pid), await cpuMs(b.pid)];
  const local = await followLoops(a.url, a.url, concurrency, seconds);
  // The same loops with their starts spread over one completion's length: streams start and end one by one,
  // as a node's traffic does, instead of a hundred in the same millisecond.
  const spread = (length / tokensPerSecond) * 1000;
  const steady = await followLoops(a.url, b.url, concurrency, seconds, spread / concurrency);
  a.close();
  b.close();
  const load = (i: number) => `${fmt((100 * (cpu1[i]! - cpu0[i]!)) / wall, 0)} %`;
  console.log(
    `\nA follower on another node: ${concurrency} concurrent completions started over POST SSE on node A ` +
      `(simulated provider, ${tokensPerSecond} tokens/s, ${length} words), each followed over ` +
      'GET /v1/chat/completions/{id}/events; delay = the follower client receiving chunk k minus the starter ' +
      'client receiving it (both clients in the bench process, one clock), from the follower caught up:',
  );
  console.log(
    '| follower on | streams | chunks measured | delay p50 / p99 ms | errors |\n|---|---|---|---|---|',
  );
  console.log(
    `| node B (Redis mirror) | ${remote.streams} | ${remote.delays.length} | ${pct(remote.delays)} | ${remote.errors} |`,
  );
  console.log(
    `| node A (same node, memory) | ${local.streams} | ${local.delays.length} | ${pct(local.delays)} | ${local.errors} |`,
  );
  console.log(
    `| node B, loops started ${fmt(spread / concurrency, 0)} ms apart | ${steady.streams} | ${steady.delays.length} | ${pct(steady.delays)} | ${steady.errors} |`,
  );
  console.log(`(CPU during the node B run: node A ${load(0)}, node B ${load(1)} of one core)`);
}

interface FanOut {
  subscribers: number;
  completions: number;
  tokensPerSecond: number;
  words: number;
  /** Receiver processes the subscribers are spread over. */
  receivers: number;
}

/** One receiver process (hub-receivers.ts) and the next message of a type from it. */
class Receiver {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<string, (message: Record<string, unknown>) => void>();

  constructor() {
    this.child = fork(join(__dirname, 'hub-receivers.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
    });
    this.child.on('message', (message: Record<string, unknown>) => {
      if (message.type === 'failed') throw new Error(`receiver failed: ${String(message.error)}`);
      this.waiting.get(String(message.type))?.(message);
    });
  }

  /** Sends `message` and waits for the reply of type `reply`. */
  ask(message: ParentMessage, reply: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`receiver: no ${reply} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiting.set(reply, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.send(message);
    });
  }

  /** The next message of type `type` (already asked for). */
  next(type: string, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      this.waiting.set(type, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
  }

  close(): void {
    this.child.kill();
  }
}

/**
 * 3. One completion (or `completions`) started over POST SSE, followed by `subscribers` WebSocket
 * subscribers (subscribe_completion) spread evenly over them. Per chunk: each subscriber's arrival against the
 * starter's SSE client, and the spread between the first and the last subscriber of the same completion.
 */
async function fanOut(plan: FanOut): Promise<void> {
  const router: Child = await spawnServer('router-simulated-paced', {
    TOKENS_PER_SECOND: String(plan.tokensPerSecond),
    WORDS: String(plan.words),
    // Time for every subscriber to subscribe before the first token (later ones read history first).
    FIRST_TOKEN_DELAY: '1000',
    KEY_PREFIX: `cb-bench-fan-${process.pid}:`,
  });
  const receivers = Array.from({ length: plan.receivers }, () => new Receiver());
  const share = Math.ceil(plan.subscribers / plan.receivers);
  await Promise.all(receivers.map((r) => r.ask({ type: 'open', url: router.url, count: share }, 'opened')));

  const agent = new Agent({ keepAlive: true, maxSockets: plan.completions });
  const ids: string[] = [];
  let references: Promise<Tap[]> = Promise.resolve([]);
  const idsKnown = new Promise<void>((resolve) => {
    const taps = Array.from({ length: plan.completions }, () =>
      tapSse(agent, `${router.url}/v1/chat/completions`, { method: 'POST', body: pacedBody }, (id) => {
        ids.push(id);
        if (ids.length === plan.completions) resolve();
      }),
    );
    references = Promise.all(taps);
  });
  await idsKnown;
  const cpu0 = await cpuMs(router.pid);
  const t0 = now();
  const doneAll = Promise.all(receivers.map((r) => r.next('done', 120_000)));
  await Promise.all(
    receivers.map((r, w) =>
      r.ask(
        {
          type: 'subscribe',
          completionIds: Array.from({ length: share }, (_, i) => ids[(w * share + i) % ids.length]!),
        },
        'subscribed',
      ),
    ),
  );
  const taps = await references;
  await doneAll;
  const wall = now() - t0;
  const routerCpu = (await cpuMs(router.pid)) - cpu0;
  const reports = await Promise.all(
    receivers.map(async (r) => (await r.ask({ type: 'report' }, 'report')).report as ReceiverReport),
  );
  receivers.forEach((r) => r.close());
  agent.destroy();
  router.close();

  const byId = new Map(taps.map((tap) => [tap.completionId, tap]));
  const delays: number[] = [];
  const spreads: number[] = [];
  const lastVsSse: number[] = [];
  // completionId -> seq -> [first arrival, last arrival] among its caught-up subscribers.
  const perSeq = new Map<string, Map<number, [number, number]>>();
  const lastFirst = new Map<string, number>();
  let messages = 0;
  let receiverCpu = 0;
  let missing = 0;
  for (const report of reports) {
    receiverCpu += report.cpuMs;
    messages += report.messages;
    for (const subscriber of report.subscribers) {
      const reference = byId.get(subscriber.completionId);
      if (!reference) continue;
      if (Number.isNaN(subscriber.first)) missing++;
      lastFirst.set(
        subscriber.completionId,
        Math.max(lastFirst.get(subscriber.completionId) ?? 0, subscriber.first),
      );
      const seqs = perSeq.get(subscriber.completionId) ?? new Map<number, [number, number]>();
      perSeq.set(subscriber.completionId, seqs);
      for (let i = 0; i < subscriber.arrivals.length; i += 2) {
        const seq = subscriber.arrivals[i]!;
        const at = subscriber.arrivals[i + 1]!;
        const sse = reference.arrivals.get(seq);
        if (sse === undefined || sse < subscriber.first) continue;
        delays.push(at - sse);
        const range = seqs.get(seq);
        if (range) {
          range[0] = Math.min(range[0], at);
          range[1] = Math.max(range[1], at);
        } else seqs.set(seq, [at, at]);
      }
    }
  }
  for (const [id, seqs] of perSeq) {
    const reference = byId.get(id)!;
    const caughtUp = lastFirst.get(id) ?? Infinity;
    for (const [seq, [first, last]] of seqs) {
      const sse = reference.arrivals.get(seq)!;
      // Only chunks every subscriber of it was live for: before that, some were still reading history.
      if (sse < caughtUp) continue;
      spreads.push(last - first);
      lastVsSse.push(last - sse);
    }
  }
  console.log(
    `\nFan-out: ${plan.subscribers} WebSocket subscribers (subscribe_completion, one socket each) over ` +
      `${plan.completions} completion(s) started over POST SSE (simulated provider, ${plan.tokensPerSecond} ` +
      `tokens/s, ${plan.words} words), held by ${plan.receivers} receiver processes:`,
  );
  console.log('| metric | value |\n|---|---|');
  console.log(`| subscriber − starter's SSE client, per chunk, p50 / p99 ms | ${pct(delays)} |`);
  console.log(`| last − first subscriber of the same chunk, p50 / p99 ms | ${pct(spreads)} |`);
  console.log(`| last subscriber − starter's SSE client, p50 / p99 ms | ${pct(lastVsSse)} |`);
  console.log(`| chunks measured (subscriber × chunk) / chunks | ${delays.length} / ${spreads.length} |`);
  console.log(`| WebSocket messages received | ${messages} (${fmt(messages / (wall / 1000), 0)}/s) |`);
  if (missing > 0) console.log(`| subscribers that received nothing | ${missing} |`);
  console.log(
    `| CPU over the ${fmt(wall / 1000, 1)} s: router / all receivers (of one core) | ` +
      `${fmt((100 * routerCpu) / wall, 0)} % / ${fmt((100 * receiverCpu) / wall, 0)} % |`,
  );
}

/** 4. The vendor SSE rows: the commit before the hub (a worktree at `base`) against this checkout, alternated. */
async function beforeAfter(seconds: number, base: string): Promise<void> {
  const upstream = await spawnServer('fake-openai');
  const before = await spawnServer('router-openai', { UPSTREAM_URL: upstream.url }, base);
  const after = await spawnServer('router-openai', { UPSTREAM_URL: upstream.url });
  const body = (n: number, stream: boolean) =>
    JSON.stringify({
      model: 'openai/bench',
      messages: [{ role: 'user', content: words(n) }],
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
  const rows: Array<[string, string, number, boolean]> = [
    ['non-streaming, concurrency 32', body(SHORT_WORDS, false), 32, false],
    [`streaming ${STREAM_WORDS} chunks, 1 client`, body(STREAM_WORDS, true), 1, true],
    [`streaming ${STREAM_WORDS} chunks, 100 concurrent`, body(STREAM_WORDS, true), 100, true],
  ];
  console.log(
    `\nPOST SSE before the hub (${base}) and after (this checkout), fake OpenAI upstream, ` +
      'runs alternated before, after, before, after (warm-up discarded):',
  );
  console.log(
    '| scenario | metric | before (run 1 / run 2) | after (run 1 / run 2) | after/before |\n|---|---|---|---|---|',
  );
  for (const [name, payload, concurrency, stream] of rows) {
    // Each run also takes the router's CPU time per request (from /proc): steadier than a rate on cores the
    // load generator and the upstream share.
    const cpu = new Map<LoadResult, number>();
    const run = async (server: Child) => {
      const cpu0 = await cpuMs(server.pid);
      const result = await closedLoop(`${server.url}/v1/chat/completions`, payload, concurrency, seconds);
      cpu.set(result, ((await cpuMs(server.pid)) - cpu0) / Math.max(1, result.requests));
      return result;
    };
    await run(before);
    await run(after);
    const b1 = await run(before);
    const a1 = await run(after);
    const b2 = await run(before);
    const a2 = await run(after);
    const cpuPer = (x: LoadResult) => cpu.get(x) ?? Number.NaN;
    const both = (f: (x: LoadResult) => number, x: LoadResult, y: LoadResult, digits: number) =>
      `${fmt(f(x), digits)} / ${fmt(f(y), digits)}`;
    const mean = (f: (x: LoadResult) => number, x: LoadResult, y: LoadResult) => (f(x) + f(y)) / 2;
    const ratio = (f: (x: LoadResult) => number) => fmt(mean(f, a1, a2) / mean(f, b1, b2), 2);
    console.log(
      `| ${name} | requests/s | ${both(rps, b1, b2, 1)} | ${both(rps, a1, a2, 1)} | ${ratio(rps)} |`,
    );
    if (stream) {
      const first = (x: LoadResult) => x.firstChunk.p50;
      const firstP99 = (x: LoadResult) => x.firstChunk.p99;
      console.log(
        `| ${name} | chunks/s | ${both(fps, b1, b2, 0)} | ${both(fps, a1, a2, 0)} | ${ratio(fps)} |`,
      );
      console.log(
        `| ${name} | first chunk p50 ms | ${both(first, b1, b2, 2)} | ${both(first, a1, a2, 2)} | ` +
          `${signed(mean(first, a1, a2) - mean(first, b1, b2), 2)} ms |`,
      );
      console.log(
        `| ${name} | first chunk p99 ms | ${both(firstP99, b1, b2, 1)} | ${both(firstP99, a1, a2, 1)} | |`,
      );
    } else {
      const p50 = (x: LoadResult) => x.latency.p50;
      console.log(`| ${name} | latency p50 ms | ${both(p50, b1, b2, 2)} | ${both(p50, a1, a2, 2)} | |`);
    }
    console.log(
      `| ${name} | router CPU ms per request | ${both(cpuPer, b1, b2, 2)} | ${both(cpuPer, a1, a2, 2)} | ${ratio(cpuPer)} |`,
    );
    const errors = b1.errors + b2.errors + a1.errors + a2.errors;
    if (errors > 0)
      console.log(`| ${name} | errors | ${b1.errors + b2.errors} | ${a1.errors + a2.errors} | |`);
  }
  before.close();
  after.close();
  upstream.close();
}
