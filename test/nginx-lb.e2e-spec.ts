import { type SseEvent, SseParser } from '../src/providers/framing/sse.parser';
import { startAppProcess, type AppProcess } from './support/app-process';
import { bearer, TEST_JWT_SECRET, token } from './support/auth';
import {
  COMPLETION_STREAM,
  CREATE_COMPLETION,
  echoInput,
  graphqlHttp,
  GraphqlWsTestClient,
  type StreamEventResult,
} from './support/graphql-client';
import {
  type AccessEntry,
  findNginx,
  type NginxProcess,
  renderShippedConf,
  startNginx,
} from './support/nginx';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { postJson } from './support/sse-client';
import { waitFor } from './support/wait';
import { WsTestClient } from './support/ws-client';

const NGINX = findNginx();
if (!NGINX) {
  console.warn(
    'test/nginx-lb.e2e-spec.ts SKIPPED: no nginx binary on PATH or in /usr/sbin, /usr/local/sbin, ' +
      '/usr/local/nginx/sbin (install it: apt-get install nginx; .ci/run does).',
  );
}
const describeWithNginx = NGINX ? describe : describe.skip;

const JWT = token({ tier: 'unlimited' }); // loops below send more than the default tier's requests per minute
const AUTH = bearer(JWT);
const user = (content: string) => [{ role: 'user', content }];

interface Created {
  createCompletion: { completionId: string };
}
interface Streamed {
  completionStream: StreamEventResult;
}
interface ChunkFrame {
  choices?: Array<{ delta?: { content?: string }; finish_reason: string | null }>;
  usage?: { completion_tokens: number };
  error?: unknown;
}

/** Completions of `protocol` in flight on `node` right now (its own /metrics, not through nginx). */
async function inFlight(node: AppProcess, protocol: 'sse' | 'http'): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const match = new RegExp(`^cb_active_streams\\{protocol="${protocol}"\\} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** "127.0.0.1:4001" for http://127.0.0.1:4001: how nginx names the node in $upstream_addr. */
const addressOf = (node: AppProcess) => new URL(node.url).host;

/** Two router nodes (one Redis) behind Debian's nginx running deploy/nginx/circuit-breaker.conf. */
describeWithNginx('nginx in front of two nodes (deploy/nginx/circuit-breaker.conf)', () => {
  // No colons: the same string whether the loader reads env values as YAML or as the schema's text.
  const prefix = testPrefix().replace(/:/g, '-');
  let a: AppProcess;
  let b: AppProcess;
  let lb: NginxProcess;

  beforeAll(async () => {
    const env = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      CB__AUTH__MODE: 'jwt',
      CB_JWT_SECRET: TEST_JWT_SECRET,
      CB__SERVER__TRUST_PROXY: 'true',
      CB__PROVIDERS__SIMULATED__ENABLED: 'true',
      CB__PROVIDERS__SIMULATED__TOKENS_PER_SECOND: '40',
      CB__PROVIDERS__SIMULATED__FIRST_TOKEN_DELAY: '0ms',
      // A short pause before refusing, then up to 10s for in-flight streams (they take under a second).
      CB__SERVER__SHUTDOWN__READINESS_GRACE: '300ms',
      CB__SERVER__SHUTDOWN__DRAIN_TIMEOUT: '10s',
      CB__REDIS__KEY_PREFIX: prefix,
    };
    [a, b] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
    lb = await startNginx(NGINX!, (port) => renderShippedConf([addressOf(a), addressOf(b)], port));
  }, 40_000);

  afterAll(async () => {
    await lb?.stop();
    for (const node of [a, b]) node?.child.kill('SIGKILL');
    await Promise.all([a?.exited, b?.exited]);
    await deleteKeys(prefix);
  });

  it('passes SSE through unbuffered: the first token reaches the client while the node still streams', async () => {
    const res = await postJson(
      `${lb.url}/v1/chat/completions`,
      {
        model: 'simulated/lorem',
        messages: user('a long answer'),
        max_tokens: 40,
        stream: true,
        stream_options: { include_usage: true },
      },
      { headers: AUTH },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('content-encoding')).toBeNull();

    const events: SseEvent[] = [];
    const parser = new SseParser({ onEvent: (event) => events.push(event) });
    let reads = 0;
    let readOfFirstToken = 0;
    let readOfDone = 0;
    let streamingAtFirstToken: number | undefined;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      reads++;
      const before = events.length;
      parser.feed(chunk);
      const fresh = events.slice(before);
      if (readOfFirstToken === 0 && fresh.some((e) => contentOfFrame(e) !== '')) {
        readOfFirstToken = reads;
        // Were the nodes still producing this stream when its first token had arrived here?
        streamingAtFirstToken = (await inFlight(a, 'sse')) + (await inFlight(b, 'sse'));
      }
      if (fresh.some((e) => e.data === '[DONE]')) readOfDone = reads;
    }
    parser.end();

    expect(streamingAtFirstToken).toBe(1);
    expect(readOfFirstToken).toBeGreaterThan(0);
    expect(readOfDone).toBeGreaterThan(readOfFirstToken);
    const frames = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as ChunkFrame);
    const finish = frames.filter((f) => f.choices?.[0]?.finish_reason);
    expect(finish.map((f) => f.choices?.[0]?.finish_reason)).toEqual(['length']);
    expect(frames.at(-1)?.usage).toMatchObject({ completion_tokens: 40 });
  });

  it('carries both WebSocket protocols: /ws/stream and graphql-ws on /graphql', async () => {
    const ws = await WsTestClient.connect(lb.url, { headers: AUTH });
    try {
      ws.send({
        type: 'completion',
        id: 'c1',
        model: 'simulated/echo',
        messages: user('hello through nginx'),
      });
      expect(await ws.end('c1')).toMatchObject({ type: 'completed', finishReason: 'stop' });
      expect(ws.contentOf('c1')).toBe('hello through nginx');
    } finally {
      await ws.close();
    }

    const created = await graphqlHttp<Created>(
      lb.url,
      CREATE_COMPLETION,
      { input: echoInput('graphql through nginx') },
      AUTH,
    );
    expect(created.status).toBe(200);
    const completionId = created.body.data!.createCompletion.completionId;
    const gql = GraphqlWsTestClient.connect(lb.url, { authorization: `Bearer ${JWT}` });
    try {
      const events = (await gql.collect<Streamed>(COMPLETION_STREAM, { id: completionId })).map(
        (r) => r.data!.completionStream,
      );
      expect(events.at(-1)).toMatchObject({ eventType: 'COMPLETED' });
      expect(
        events
          .filter((e) => e.eventType === 'CONTENT_CHUNK')
          .map((e) => e.content)
          .join(''),
      ).toBe('graphql through nginx');
    } finally {
      await gql.dispose();
    }
    // Both handshakes went through nginx as upgrades (logged once each connection has closed).
    const upgraded = () =>
      lb
        .accessLog()
        .filter((e) => e.status === 101)
        .map((e) => e.uri)
        .sort();
    await waitFor('both WebSocket connections in the access log', () => upgraded().length >= 2);
    expect(upgraded()).toEqual(['/graphql', '/ws/stream']);
  });

  it("refuses a body over the router's body_limit itself, in the protocol's own error form", async () => {
    const body = JSON.stringify({ model: 'simulated/echo', messages: user('x'.repeat(1_048_576)) });
    const rest = await postJson(`${lb.url}/v1/chat/completions`, body, { headers: AUTH });
    expect(rest.status).toBe(413);
    expect(await rest.json()).toEqual({
      error: {
        message: 'Request body is too large',
        type: 'invalid_request_error',
        param: null,
        code: 'request_too_large',
      },
    });
    const graphql = await postJson(`${lb.url}/graphql`, body, { headers: AUTH });
    expect(graphql.status).toBe(413);
    expect(await graphql.json()).toEqual({
      errors: [{ message: 'Request body is too large', extensions: { code: 'REQUEST_TOO_LARGE' } }],
    });
  });

  it('drains a node stopped with SIGTERM mid-traffic and moves new work to the other, with no failed request', async () => {
    interface Outcome {
      id: string;
      kind: 'json' | 'sse';
      /** Sent after the SIGTERM / after the node had exited. */
      afterStop: boolean;
      afterExit: boolean;
      /** Ended after the SIGTERM. */
      endedAfterStop: boolean;
      error?: string;
    }
    const outcomes: Outcome[] = [];
    const phase = { stopped: false, exited: false, done: false };

    const completeOnce = async (id: string) => {
      const res = await postJson(
        `${lb.url}/v1/chat/completions`,
        { model: 'simulated/echo', messages: user(`ping ${id}`) },
        { headers: { ...AUTH, 'x-request-id': id } },
      );
      const text = await res.text();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text}`);
      const content = (JSON.parse(text) as { choices: Array<{ message: { content: string } }> }).choices[0]
        ?.message.content;
      if (content !== `ping ${id}`) throw new Error(`wrong answer: ${text}`);
    };
    const streamOnce = async (id: string) => {
      const res = await postJson(
        `${lb.url}/v1/chat/completions`,
        { model: 'simulated/lorem', messages: user(`stream ${id}`), max_tokens: 24, stream: true },
        { headers: { ...AUTH, 'x-request-id': id } },
      );
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
      const events: SseEvent[] = [];
      const parser = new SseParser({ onEvent: (event) => events.push(event) });
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) parser.feed(chunk);
      parser.end();
      const data = events.map((e) => e.data);
      const frames = data.slice(0, -1).map((d) => JSON.parse(d) as ChunkFrame);
      // A completion, not a cut: a finish chunk, then [DONE], and no error frame anywhere.
      if (data.at(-1) !== '[DONE]' || frames.some((f) => f.error !== undefined)) {
        throw new Error(`stream did not complete: ${data.slice(-2).join(' | ')}`);
      }
      if (frames.at(-1)?.choices?.[0]?.finish_reason !== 'length') {
        throw new Error(`no finish chunk: ${data.slice(-2).join(' | ')}`);
      }
    };
    const loop = async (kind: 'json' | 'sse', n: number) => {
      for (let i = 0; !phase.done; i++) {
        const id = `lb-${kind}${n}-${i}`;
        const outcome: Outcome = {
          id,
          kind,
          afterStop: phase.stopped,
          afterExit: phase.exited,
          endedAfterStop: false,
        };
        try {
          await (kind === 'sse' ? streamOnce(id) : completeOnce(id));
        } catch (err) {
          outcome.error = err instanceof Error ? err.message : String(err);
        }
        outcome.endedAfterStop = phase.stopped;
        outcomes.push(outcome);
      }
    };
    const loops = [...[0, 1, 2].map((n) => loop('json', n)), ...[0, 1, 2].map((n) => loop('sse', n))];

    // Traffic on both nodes, and a stream in flight on the one about to stop.
    await waitFor(
      'a stream in flight on node A, and traffic on both',
      async () => outcomes.length >= 12 && (await inFlight(a, 'sse')) > 0,
      15_000,
    );
    phase.stopped = true;
    a.child.kill('SIGTERM');
    const exit = await a.exited;
    phase.exited = true;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    // Keep going for a while once it is gone: new work must all land on B.
    await waitFor(
      'requests sent after node A exited',
      () => outcomes.filter((o) => o.afterExit).length >= 12,
      15_000,
    );
    phase.done = true;
    await Promise.all(loops);

    expect(outcomes.filter((o) => o.error !== undefined)).toEqual([]);

    await waitFor('nginx to log every request', () => {
      const logged = new Set(lb.accessLog().map((e) => e.id));
      return outcomes.every((o) => logged.has(o.id));
    });
    const byId = new Map<string, AccessEntry>(lb.accessLog().map((e) => [e.id, e]));
    const entry = (o: Outcome) => byId.get(o.id)!;
    const servedBy = (o: Outcome) => entry(o).upstreams.at(-1);
    const [nodeA, nodeB] = [addressOf(a), addressOf(b)];

    for (const o of outcomes) {
      expect(entry(o)).toMatchObject({ status: 200 });
      expect(entry(o).upstreamStatuses.at(-1)).toBe('200');
    }
    // Streams that were running on A when it got SIGTERM finished there, as completions (checked above).
    const drained = outcomes.filter(
      (o) => o.kind === 'sse' && !o.afterStop && o.endedAfterStop && servedBy(o) === nodeA,
    );
    expect(drained.length).toBeGreaterThan(0);
    // B took the new work: all of it once A had gone.
    const onBAfterStop = outcomes.filter((o) => o.afterStop && servedBy(o) === nodeB);
    expect(onBAfterStop.length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.afterExit).every((o) => servedBy(o) === nodeB)).toBe(true);
    // Some requests reached A while it refused (503) or was closing (a failed connection) and nginx sent them
    // on to B: proxy_next_upstream at work.
    const retried = outcomes.filter((o) => entry(o).upstreams.length > 1);
    expect(retried.length).toBeGreaterThan(0);
    for (const o of retried) {
      expect(entry(o).upstreams).toEqual([nodeA, nodeB]);
      expect(['503', '502']).toContain(entry(o).upstreamStatuses[0]);
    }
    const acceptedDuringGrace = outcomes.filter((o) => o.afterStop && servedBy(o) === nodeA);
    console.log(
      `nginx drain: ${outcomes.length} requests, 0 failed; ${drained.length} streams drained on A; ` +
        `${acceptedDuringGrace.length} accepted by A after SIGTERM (readiness grace); ` +
        `${retried.length} retried on B (${retried.map((o) => entry(o).upstreamStatuses[0]).join(',')}); ` +
        `${onBAfterStop.length} served by B after SIGTERM`,
    );
  }, 45_000);
});

function contentOfFrame(event: SseEvent): string {
  if (event.data === '[DONE]') return '';
  return (JSON.parse(event.data) as ChunkFrame).choices?.[0]?.delta?.content ?? '';
}
