import OpenAI from 'openai';
import WebSocket from 'ws';
import { startApp, type TestApp } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import {
  CREATE_COMPLETION,
  echoInput,
  graphqlHttp,
  GraphqlWsTestClient,
  type Operation,
} from './support/graphql-client';
import { readSse } from './support/sse-client';
import { waitFor } from './support/wait';
import { WsTestClient } from './support/ws-client';
import { createWorkflow, getRun, startRun } from './support/workflows';

/** Every denial on every protocol (docs/auth.md), on one app that requires tokens. */

const ALICE = token({ sub: 'alice' });
const BOB = token({ sub: 'bob' });
const ADMIN = token({ sub: 'root', roles: ['admin'] });
const READ_ONLY = token({ sub: 'reader', permissions: ['completion:read', 'workflow:read'] });
const EXPIRED = token({ sub: 'alice' }, { ttlSeconds: -120 });
const FORGED = token({ sub: 'alice' }, { secret: 'not-the-secret-0123456789abcdef012345' });

const echo = (text: string) => ({
  model: 'simulated/echo',
  messages: [{ role: 'user' as const, content: text }],
});

async function post(
  app: TestApp,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${app.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function errorOf(res: Response): Promise<{ type: string; code: string; message: string }> {
  const body = (await res.json()) as { error: { type: string; code: string; message: string } };
  return body.error;
}

describe('authentication and permissions on every edge', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp(jwtAuth({ ws_auth_timeout: '300ms', jwt: { clock_skew: '0ms' } }), {
      server: { cors: { origins: ['https://app.example.com'] } },
    });
  });
  afterAll(() => app.close());

  describe('REST', () => {
    it('refuses a missing, forged or expired token with 401 and OpenAI error JSON', async () => {
      for (const headers of [{}, bearer(FORGED), bearer(EXPIRED), { authorization: 'Basic abc' }]) {
        const res = await post(app, '/v1/chat/completions', echo('hi'), headers);
        expect(res.status).toBe(401);
        const error = await errorOf(res);
        expect(error).toMatchObject({ type: 'authentication_error', code: 'unauthorized' });
      }
      const expired = await errorOf(await post(app, '/v1/chat/completions', echo('hi'), bearer(EXPIRED)));
      expect(expired.message).toMatch(/expired/i);
      const models = await fetch(`${app.url}/v1/models`);
      expect(models.status).toBe(401);
    });

    it('refuses a token without the permission with 403', async () => {
      const res = await post(app, '/v1/chat/completions', echo('hi'), bearer(READ_ONLY));
      expect(res.status).toBe(403);
      expect(await errorOf(res)).toMatchObject({ type: 'permission_error', code: 'forbidden' });
      const workflow = await post(app, '/v1/workflows', { id: 'x' }, bearer(READ_ONLY));
      expect(workflow.status).toBe(403);
    });

    it('serves a valid token, through the openai SDK', async () => {
      const client = new OpenAI({ apiKey: ALICE, baseURL: `${app.url}/v1`, maxRetries: 0 });
      const stream = await client.chat.completions.create({ ...echo('hello there'), stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toBe('hello there');
      const denied = new OpenAI({ apiKey: FORGED, baseURL: `${app.url}/v1`, maxRetries: 0 });
      await expect(denied.models.list()).rejects.toMatchObject({ status: 401 });
    });

    it('keeps /admin for the admin role; health and metrics stay public', async () => {
      expect((await fetch(`${app.url}/admin/dead-letters`, { headers: bearer(ALICE) })).status).toBe(403);
      expect((await fetch(`${app.url}/admin/circuits`)).status).toBe(401);
      expect((await fetch(`${app.url}/admin/dead-letters`, { headers: bearer(ADMIN) })).status).toBe(200);
      expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
      expect((await fetch(`${app.url}/metrics`)).status).toBe(200);
    });

    it('takes the EventSource token from the query or a cookie, on the SSE GET form only', async () => {
      const query = `model=simulated/echo&messages=${encodeURIComponent(JSON.stringify([{ role: 'user', content: 'hey you' }]))}`;
      const viaQuery = await readSse(
        await fetch(`${app.url}/v1/chat/completions/stream?${query}&access_token=${ALICE}`),
      );
      expect(viaQuery.status).toBe(200);
      expect(viaQuery.events.at(-1)?.data).toBe('[DONE]');
      const viaCookie = await fetch(`${app.url}/v1/chat/completions/stream?${query}`, {
        headers: { cookie: `theme=dark; cb_token=${ALICE}` },
      });
      expect(viaCookie.status).toBe(200);
      await viaCookie.text();
      const without = await fetch(`${app.url}/v1/chat/completions/stream?${query}`);
      expect(without.status).toBe(401);
      expect(await errorOf(without)).toMatchObject({ code: 'unauthorized' });
      // A cookie a browser sends with a cross-site request (an <img> elsewhere) is not a credential.
      const crossSite = await fetch(`${app.url}/v1/chat/completions/stream?${query}`, {
        headers: { cookie: `cb_token=${ALICE}`, 'sec-fetch-site': 'cross-site' },
      });
      expect(crossSite.status).toBe(401);
      // Anywhere else a token in the URL is not read.
      expect((await fetch(`${app.url}/v1/models?access_token=${ALICE}`)).status).toBe(401);
      const postWithQuery = await post(app, `/v1/chat/completions?access_token=${ALICE}`, echo('x'));
      expect(postWithQuery.status).toBe(401);
    });
  });

  describe('resource scoping', () => {
    let workflowId: string;
    beforeAll(async () => {
      workflowId = `scoped-${Date.now()}`;
      await createWorkflow(app.url, oneAgent(workflowId), bearer(ADMIN));
    });

    it("keeps one user's workflow runs from another, on REST, SSE, WebSocket and GraphQL", async () => {
      const run = await startRun(app.url, workflowId, { topic: 'x' }, bearer(ALICE));
      expect(run.owner).toBe('alice');
      expect((await getRun(app.url, run.runId, bearer(ALICE))).runId).toBe(run.runId);
      const asBob = await fetch(`${app.url}/v1/workflow-runs/${run.runId}`, { headers: bearer(BOB) });
      expect(asBob.status).toBe(403);
      const events = await fetch(`${app.url}/v1/workflow-runs/${run.runId}/events?access_token=${BOB}`);
      expect(events.status).toBe(403);
      const cancel = await post(app, `/v1/workflow-runs/${run.runId}/cancel`, {}, bearer(BOB));
      expect(cancel.status).toBe(403);
      const all = token({ sub: 'auditor', resource_scope: 'all' });
      expect((await fetch(`${app.url}/v1/workflow-runs/${run.runId}`, { headers: bearer(all) })).status).toBe(
        200,
      );

      const ws = await WsTestClient.connect(app.url, { headers: bearer(BOB) });
      ws.send({ type: 'subscribe_workflow', workflowId: run.runId });
      const refused = await ws.next('forbidden', (m) => m.type === 'error');
      expect(refused).toMatchObject({ workflowId: run.runId, error: { code: 'forbidden' } });
      ws.socket.close();

      const gql = await graphqlHttp(
        app.url,
        'query R($id: ID!) { workflowRun(runId: $id) { runId } }',
        {
          id: run.runId,
        },
        bearer(BOB),
      );
      expect(gql.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });

    it("keeps one user's GraphQL completions from another (query, subscription, cancel)", async () => {
      const created = await graphqlHttp<{ createCompletion: { completionId: string } }>(
        app.url,
        CREATE_COMPLETION,
        { input: echoInput('mine only') },
        bearer(ALICE),
      );
      const id = created.body.data!.createCompletion.completionId;
      const read = 'query C($id: ID!) { completion(completionId: $id) { status content } }';
      const bob = await graphqlHttp(app.url, read, { id }, bearer(BOB));
      expect(bob.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const cancel = await graphqlHttp(
        app.url,
        'mutation X($id: ID!) { cancelCompletion(completionId: $id) }',
        { id },
        bearer(BOB),
      );
      expect(cancel.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const client = GraphqlWsTestClient.connect(app.url, { authorization: `Bearer ${BOB}` });
      try {
        const op = client.run(
          'subscription S($id: ID!) { completionStream(completionId: $id) { eventType } }',
          {
            id,
          },
        );
        expect(await refusalOf(op)).toBe('FORBIDDEN');
      } finally {
        await client.dispose();
      }
      const alice = await graphqlHttp(app.url, read, { id }, bearer(ALICE));
      expect(alice.body.errors).toBeUndefined();
    });
  });

  describe('WebSocket', () => {
    const completion = { type: 'completion', id: 'c1', ...echo('over the socket') };

    it('closes with 4401 when no credentials come in time', async () => {
      const ws = await WsTestClient.connect(app.url);
      expect(await ws.closed).toBe(4401);
      expect(ws.messages[0]).toMatchObject({ type: 'error', error: { code: 'unauthorized' } });
    });

    it('closes with 4401 when the first message is not auth, or the token is bad', async () => {
      const first = await WsTestClient.connect(app.url);
      first.send(completion);
      expect(await first.closed).toBe(4401);
      const forged = await WsTestClient.connect(app.url, { headers: bearer(FORGED) });
      expect(await forged.closed).toBe(4401);
      expect(forged.messages[0]).toMatchObject({ error: { code: 'unauthorized' } });
      const viaMessage = await WsTestClient.connect(app.url);
      viaMessage.send({ type: 'auth', token: EXPIRED });
      expect(await viaMessage.closed).toBe(4401);
      expect(String(viaMessage.messages[0]?.error && JSON.stringify(viaMessage.messages[0].error))).toMatch(
        /expired/i,
      );
    });

    it('authenticates by header, query token or a first auth message', async () => {
      const byHeader = await WsTestClient.connect(app.url, { headers: bearer(ALICE) });
      const byQuery = await WsTestClient.connect(`${app.url}`, {}, `/ws/stream?access_token=${ALICE}`);
      const byMessage = await WsTestClient.connect(app.url);
      byMessage.send({ type: 'auth', token: ALICE });
      await byMessage.next('authenticated', (m) => m.type === 'authenticated');
      expect(byMessage.messages[0]).toMatchObject({ type: 'authenticated', userId: 'alice' });
      for (const ws of [byHeader, byQuery, byMessage]) {
        ws.send(completion);
        await ws.next('completed', (m) => m.type === 'completed');
        expect(ws.contentOf('c1')).toBe('over the socket');
        ws.socket.close();
      }
    });

    it('refuses a message the token does not allow, and carries on', async () => {
      const ws = await WsTestClient.connect(app.url, { headers: bearer(READ_ONLY) });
      ws.send(completion);
      expect(await ws.next('error', (m) => m.type === 'error')).toMatchObject({
        id: 'c1',
        error: { code: 'forbidden' },
      });
      ws.send({ type: 'subscribe', streams: ['agent_status'] });
      await ws.next('second error', (m) => m.type === 'error' && m !== ws.messages[0]);
      ws.send({ type: 'ping' });
      await ws.next('pong', (m) => m.type === 'pong');
      ws.socket.close();
    });

    it('closes with 4401 when the token expires, unless a new one came first', async () => {
      const ws = await WsTestClient.connect(app.url, { headers: bearer(token({}, { ttlSeconds: 1 })) });
      const renewed = await WsTestClient.connect(app.url, { headers: bearer(token({}, { ttlSeconds: 1 })) });
      renewed.send({ type: 'auth', token: token({}, { ttlSeconds: 60 }) });
      await renewed.next('authenticated', (m) => m.type === 'authenticated');
      expect(await ws.closed).toBe(4401);
      expect(ws.messages.at(-1)).toMatchObject({ type: 'error', error: { code: 'unauthorized' } });
      renewed.send({ type: 'ping' });
      await renewed.next('pong', (m) => m.type === 'pong');
      expect(renewed.closeCode).toBeUndefined();
      // Another user's token on the same connection is refused.
      renewed.send({ type: 'auth', token: BOB });
      expect(await renewed.next('refused', (m) => m.type === 'error')).toMatchObject({
        error: { code: 'unauthorized' },
      });
      renewed.socket.close();
    }, 10_000);
  });

  describe('GraphQL', () => {
    it('answers an unauthenticated HTTP operation with UNAUTHORIZED and a denied one with FORBIDDEN', async () => {
      const none = await graphqlHttp(app.url, '{ models { id } }');
      expect(none.body.errors?.[0]?.extensions?.code).toBe('UNAUTHORIZED');
      const forged = await graphqlHttp(app.url, '{ models { id } }', undefined, bearer(FORGED));
      expect(forged.body.errors?.[0]?.extensions?.code).toBe('UNAUTHORIZED');
      const providers = await graphqlHttp(app.url, '{ providers { id } }', undefined, bearer(ALICE));
      expect(providers.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const ok = await graphqlHttp(app.url, '{ providers { id } }', undefined, bearer(ADMIN));
      expect(ok.body.errors).toBeUndefined();
    });

    it('closes a graphql-ws connection with 4403 when its token expires', async () => {
      const client = GraphqlWsTestClient.connect(app.url, {
        authorization: `Bearer ${token({}, { ttlSeconds: 1 })}`,
      });
      try {
        expect((await client.collect('{ models { id } }')).length).toBe(1);
        await waitFor('the close at expiry', () => client.closes.includes(4403), 5_000);
      } finally {
        await client.dispose();
      }
    }, 10_000);

    it('closes graphql-ws with 4403 without valid connectionParams, and serves valid ones', async () => {
      for (const params of [{}, { authorization: `Bearer ${FORGED}` }, { token: EXPIRED }]) {
        const client = GraphqlWsTestClient.connect(app.url, params);
        const op = client.run('{ models { id } }');
        const error = (await op.ended) as { code?: number };
        expect(error.code).toBe(4403);
        await client.dispose();
      }
      const client = GraphqlWsTestClient.connect(app.url, { authorization: `Bearer ${ALICE}` });
      try {
        const results = await client.collect<{ models: Array<{ id: string }> }>('{ models { id } }');
        expect(results[0]?.data?.models.length).toBeGreaterThan(0);
        const op = client.run('subscription { systemEvents { eventType } }');
        expect(await refusalOf(op)).toBe('FORBIDDEN');
      } finally {
        await client.dispose();
      }
    });
  });

  describe('CORS and size limits', () => {
    const listed = 'https://app.example.com';

    it('answers preflights and adds CORS headers for listed origins only', async () => {
      const preflight = await fetch(`${app.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: {
          origin: listed,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(listed);
      expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);

      const stream = await fetch(
        `${app.url}/v1/chat/completions/stream?model=simulated/echo&messages=${encodeURIComponent('[{"role":"user","content":"x"}]')}&access_token=${ALICE}`,
        { headers: { origin: listed } },
      );
      expect(stream.headers.get('access-control-allow-origin')).toBe(listed);
      await stream.text();

      const refused = await post(app, '/v1/chat/completions', echo('x'), {
        ...bearer(ALICE),
        origin: 'https://evil.example',
      });
      expect(refused.status).toBe(403);
      expect(await errorOf(refused)).toMatchObject({ code: 'forbidden' });
      const gql = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://evil.example', ...bearer(ALICE) },
        body: JSON.stringify({ query: '{ models { id } }' }),
      });
      expect(gql.status).toBe(403);
    });

    it('refuses WebSocket upgrades from origins not listed (403), on both WebSocket paths', async () => {
      for (const path of ['/ws/stream', '/graphql']) {
        const status = await new Promise<number>((resolve, reject) => {
          const socket = new WebSocket(`${app.url.replace('http', 'ws')}${path}`, ['graphql-transport-ws'], {
            headers: { origin: 'https://evil.example', ...bearer(ALICE) },
          });
          socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          socket.on('open', () => reject(new Error(`${path} upgraded`)));
          socket.on('error', () => undefined);
        });
        expect(status).toBe(403);
      }
      const ok = await WsTestClient.connect(app.url, { headers: { origin: listed, ...bearer(ALICE) } });
      ok.socket.close();
    });

    it('refuses oversized headers (431) and WebSocket frames (1009)', async () => {
      const res = await fetch(`${app.url}/health/live`, { headers: { 'x-big': 'a'.repeat(20_000) } });
      expect(res.status).toBe(431);
      const ws = await WsTestClient.connect(app.url, { headers: bearer(ALICE) });
      ws.send('x'.repeat(app.config.server.max_frame_size + 1));
      expect(await ws.closed).toBe(1009);
    });
  });
});

/** The code of an operation refused before its first event (an error result, or an error ending it). */
async function refusalOf(op: Operation<unknown>): Promise<unknown> {
  const ended = (await op.ended) as Array<{ extensions?: { code?: unknown } }> | undefined;
  return ended?.[0]?.extensions?.code ?? op.results[0]?.errors?.[0]?.extensions?.code;
}

function oneAgent(id: string): Record<string, unknown> {
  return {
    id,
    name: 'one agent',
    places: [
      { id: 'start', initial: true },
      { id: 'done', final: true },
    ],
    transitions: [
      {
        id: 'write',
        inputs: ['start'],
        outputs: ['done'],
        action: {
          type: 'agent',
          agent: 'writer',
          model: 'simulated/echo',
          prompt: 'About {{topic}}',
          output: 'text',
        },
      },
    ],
  };
}
