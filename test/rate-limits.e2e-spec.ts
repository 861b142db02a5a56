import { startApp, type TestApp, withModels } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import { CREATE_COMPLETION, echoInput, graphqlHttp, GraphqlWsTestClient } from './support/graphql-client';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { contentOf, postJson, readSse, readSseFromFirstEvent } from './support/sse-client';
import { waitFor } from './support/wait';
import { WsTestClient } from './support/ws-client';

/**
 * Per-user rate limits (docs/auth.md), shared by two nodes through Redis: requests per minute and
 * concurrent streams, on REST, SSE, WebSocket and GraphQL. Each test uses users of its own, so counts never
 * leak between tests.
 */

interface OpenAiError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const RPM = 4;
const TIERS = {
  default: { requests_per_minute: RPM, concurrent_streams: 1 },
  // One stream at a time, any number of requests: the streams test makes more than RPM requests.
  streams: { requests_per_minute: 0, concurrent_streams: 1 },
  unlimited: { requests_per_minute: 0, concurrent_streams: 0 },
};

/** 40 words at 5 tokens a second: a stream that stays open for ~8s unless it is aborted. */
const LONG_PROMPT = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');

const echo = (text: string, model = 'simulated/echo') => ({
  model,
  messages: [{ role: 'user' as const, content: text }],
});

describe('rate limits shared across two nodes', () => {
  const prefix = testPrefix('cbtest-rl');
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    const layers = [
      jwtAuth({ rate_limits: { tiers: TIERS, default_tier: 'default' } }),
      { redis: { key_prefix: prefix } },
      withModels([], {
        id: 'simulated/slow-echo',
        provider: 'simulated',
        upstream: 'echo',
        options: { tokens_per_second: 5 },
      }),
    ];
    a = await startApp(...layers);
    b = await startApp(...layers);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deleteKeys(prefix);
  });

  const completion = (app: TestApp, jwt: string, text = 'hi') =>
    postJson(`${app.url}/v1/chat/completions`, echo(text), { headers: bearer(jwt) });

  it('counts requests per minute across both nodes: REST 429, then WebSocket and GraphQL refuse too', async () => {
    const jwt = token({ sub: `rpm-${prefix}` });
    for (const app of [a, b, a, b]) {
      const res = await completion(app, jwt, 'counted');
      expect(res.status).toBe(200);
      await res.json();
    }

    const refused = await completion(a, jwt, 'one too many');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as OpenAiError;
    expect(body).toEqual({
      error: {
        message: expect.any(String),
        type: expect.any(String),
        param: null,
        code: 'rate_limit_exceeded',
      },
    });

    // The other node refuses as well: the count lives in Redis.
    expect((await fetch(`${b.url}/v1/models`, { headers: bearer(jwt) })).status).toBe(429);

    const ws = await WsTestClient.connect(b.url, { headers: bearer(jwt) });
    try {
      ws.send({ type: 'completion', id: 'c1', ...echo('over the socket') });
      const error = await ws.end('c1');
      expect(error).toMatchObject({
        type: 'error',
        id: 'c1',
        error: { code: 'rate_limit_exceeded', retryAfterMs: expect.any(Number) },
      });
      expect((error.error as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect(ws.contentOf('c1')).toBe('');
      // The socket carries on after the refusal.
      ws.send({ type: 'ping' });
      await ws.next('pong', (m) => m.type === 'pong');
    } finally {
      await ws.close();
    }

    const gql = await graphqlHttp(b.url, '{ models { id } }', undefined, bearer(jwt));
    expect(gql.body.data ?? null).toBeNull();
    expect(gql.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMIT_EXCEEDED');
  });

  it('does not hold one user back for another; the unlimited tier is never limited', async () => {
    const limited = token({ sub: `busy-${prefix}` });
    for (const app of [a, b, a, b]) {
      expect((await fetch(`${app.url}/v1/models`, { headers: bearer(limited) })).status).toBe(200);
    }
    expect((await fetch(`${b.url}/v1/models`, { headers: bearer(limited) })).status).toBe(429);

    const other = token({ sub: `other-${prefix}` });
    for (const app of [a, b]) {
      const res = await completion(app, other, 'not limited by the busy user');
      expect(res.status).toBe(200);
      await res.json();
    }

    const unlimited = token({ sub: `vip-${prefix}`, tier: 'unlimited' });
    for (let i = 0; i < RPM * 3; i++) {
      const app = i % 2 === 0 ? a : b;
      const res = await fetch(`${app.url}/v1/models`, { headers: bearer(unlimited) });
      expect(res.status).toBe(200);
      await res.json();
    }
    // Nor are its streams: two at once, one on each node.
    const abort = new AbortController();
    const slowA = await postJson(
      `${a.url}/v1/chat/completions`,
      { ...echo(LONG_PROMPT, 'simulated/slow-echo'), stream: true },
      { headers: bearer(unlimited), signal: abort.signal },
    );
    expect(slowA.status).toBe(200);
    const held = readSse(slowA);
    const second = await postJson(
      `${b.url}/v1/chat/completions`,
      { ...echo('a second stream'), stream: true },
      { headers: bearer(unlimited) },
    );
    expect(second.status).toBe(200);
    expect(contentOf(await readSse(second))).toBe('a second stream');
    abort.abort();
    await held.catch(() => undefined);
  }, 20_000);

  it('counts concurrent streams across both nodes; a slot freed on one node admits a stream on the other', async () => {
    const jwt = token({ sub: `streams-${prefix}`, tier: 'streams' });
    const sseBody = (text: string, model?: string) => ({ ...echo(text, model), stream: true });

    // One stream held open on A.
    const abort = new AbortController();
    const holding = await postJson(
      `${a.url}/v1/chat/completions`,
      sseBody(LONG_PROMPT, 'simulated/slow-echo'),
      {
        headers: bearer(jwt),
        signal: abort.signal,
      },
    );
    expect(holding.status).toBe(200);
    const held = readSseFromFirstEvent(holding);
    await held.firstEvent;

    try {
      // A client-chosen request id (the one the holding stream had too) does not share its slot.
      const sameId = await postJson(`${a.url}/v1/chat/completions`, sseBody('refused'), {
        headers: { ...bearer(jwt), 'x-request-id': holding.headers.get('x-request-id')! },
      });
      expect(sameId.status).toBe(429);
      await sameId.text();

      // SSE on B: 429 with retry-after and OpenAI error JSON.
      const sse = await postJson(`${b.url}/v1/chat/completions`, sseBody('refused'), {
        headers: bearer(jwt),
      });
      expect(sse.status).toBe(429);
      expect(Number(sse.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await sse.json()) as OpenAiError).error.code).toBe('rate_limit_exceeded');

      // The EventSource form on B as well.
      const query = new URLSearchParams({
        model: 'simulated/echo',
        messages: JSON.stringify([{ role: 'user', content: 'refused too' }]),
        access_token: jwt,
      });
      const eventSource = await fetch(`${b.url}/v1/chat/completions/stream?${query.toString()}`);
      expect(eventSource.status).toBe(429);
      await eventSource.text();

      // A WebSocket completion on B.
      const ws = await WsTestClient.connect(b.url, { headers: bearer(jwt) });
      try {
        ws.send({ type: 'completion', id: 'w1', ...echo('refused on the socket') });
        expect(await ws.end('w1')).toMatchObject({
          type: 'error',
          id: 'w1',
          error: { code: 'rate_limit_exceeded', retryAfterMs: expect.any(Number) },
        });
      } finally {
        await ws.close();
      }

      // A GraphQL subscription on B (the mutation that starts the completion is not a stream).
      const created = await graphqlHttp<{ createCompletion: { completionId: string } }>(
        b.url,
        CREATE_COMPLETION,
        { input: echoInput('subscription refused') },
        bearer(jwt),
      );
      expect(created.body.errors).toBeUndefined();
      const id = created.body.data!.createCompletion.completionId;
      const gql = GraphqlWsTestClient.connect(b.url, { authorization: `Bearer ${jwt}` });
      try {
        const op = gql.run('subscription S($id: ID!) { completionStream(completionId: $id) { eventType } }', {
          id,
        });
        // Refused at subscribe time: one result carrying the error, then complete (as other refusals do).
        expect(await op.ended).toBeUndefined();
        expect(op.results).toHaveLength(1);
        expect(op.results[0]?.data ?? null).toBeNull();
        expect(op.results[0]?.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED' });
      } finally {
        await gql.dispose();
      }
    } finally {
      // The first stream ends (the client goes away).
      abort.abort();
      await held.done.catch(() => undefined);
    }

    // Its slot is free again: a new stream is admitted on B.
    let admitted: string | undefined;
    await waitFor(
      'a stream admitted on B',
      async () => {
        const res = await postJson(`${b.url}/v1/chat/completions`, sseBody('admitted again'), {
          headers: bearer(jwt),
        });
        if (res.status === 429) {
          await res.text();
          return false;
        }
        expect(res.status).toBe(200);
        admitted = contentOf(await readSse(res));
        return true;
      },
      5_000,
    );
    expect(admitted).toBe('admitted again');

    // And it gave its slot back: the next one is admitted too, on A this time.
    const next = await postJson(`${a.url}/v1/chat/completions`, sseBody('and again'), {
      headers: bearer(jwt),
    });
    expect(next.status).toBe(200);
    expect(contentOf(await readSse(next))).toBe('and again');
  }, 20_000);
});
