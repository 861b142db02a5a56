import { randomUUID } from 'node:crypto';
import { FakeIdp, SigningKey } from '../src/auth/testing/fake-idp';
import { startApp, type TestApp } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import { GraphqlWsTestClient, graphqlHttp } from './support/graphql-client';
import { describeProbe, probeDuring } from './support/probe';
import { RedisServerProcess } from './support/redis';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { waitFor } from './support/wait';
import { WsTestClient } from './support/ws-client';

/** Token revocation across nodes (POST /admin/revocations) and rotating keys from a JWKS URL. */

const ADMIN = token({ sub: 'root', roles: ['admin'] });
/** May read completions and system events (for a graphql-ws subscription that stays open). */
const PERMISSIONS = ['completion:read', 'completion:write', 'system:read'];
const SYSTEM_EVENTS = 'subscription { systemEvents { eventType } }';

interface ErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

async function api(
  app: TestApp,
  method: string,
  path: string,
  body?: unknown,
  auth: string = ADMIN,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${app.url}/admin/revocations${path}`, {
    method,
    headers: { ...bearer(auth), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** GET /v1/models with the token: its status, and the error message when refused. */
async function models(app: TestApp, jwt: string): Promise<{ status: number; message?: string }> {
  const res = await fetch(`${app.url}/v1/models`, { headers: bearer(jwt) });
  if (res.status === 200) {
    await res.text();
    return { status: 200 };
  }
  return { status: res.status, message: ((await res.json()) as ErrorBody).error.message };
}

async function refusedOn(app: TestApp, jwt: string): Promise<boolean> {
  return (await models(app, jwt)).status === 401;
}

describe('revocations shared by two nodes (one Redis prefix)', () => {
  const prefix = testPrefix('cbrev');
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    const layer = { redis: { key_prefix: prefix } };
    [a, b] = await Promise.all([startApp(jwtAuth(), layer), startApp(jwtAuth(), layer)]);
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await deleteKeys(prefix);
  });

  it('revoking a jti on node A refuses it on node B: REST 401, /ws/stream 4401, graphql-ws 4403', async () => {
    const jti = randomUUID();
    const revoked = token({ sub: 'alice', jti, permissions: PERMISSIONS });
    const sibling = token({ sub: 'alice', jti: randomUUID(), permissions: PERMISSIONS });
    expect((await models(b, revoked)).status).toBe(200);

    const ws = await WsTestClient.connect(b.url, { headers: bearer(revoked) });
    ws.send({ type: 'ping' });
    await ws.next('pong', (m) => m.type === 'pong');
    const otherWs = await WsTestClient.connect(b.url, { headers: bearer(sibling) });
    const gql = GraphqlWsTestClient.connect(b.url, { authorization: `Bearer ${revoked}` });
    const otherGql = GraphqlWsTestClient.connect(b.url, { authorization: `Bearer ${sibling}` });
    try {
      expect((await gql.collect('{ models { id } }')).length).toBe(1);
      const subscription = gql.run(SYSTEM_EVENTS);
      expect((await otherGql.collect('{ models { id } }')).length).toBe(1);

      const created = await api(a, 'POST', '', { jti, reason: 'laptop stolen' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        data: { kind: 'jti', value: jti, reason: 'laptop stolen', revokedBy: 'root' },
      });
      // On A at once; on B once the pub/sub message is there.
      expect(await models(a, revoked)).toEqual({ status: 401, message: 'The token has been revoked.' });
      await waitFor('node B to refuse the revoked token', () => refusedOn(b, revoked));
      expect(await models(b, revoked)).toEqual({ status: 401, message: 'The token has been revoked.' });

      expect(await ws.closed).toBe(4401);
      expect(ws.messages.at(-1)).toMatchObject({
        type: 'error',
        error: { code: 'unauthorized', message: 'The token has been revoked.' },
      });
      await waitFor('the graphql-ws close', () => gql.closes.includes(4403));
      expect(await subscription.ended).toMatchObject({ code: 4403, reason: 'The token has been revoked.' });

      // Another token of the same user is untouched, on every edge.
      expect((await models(b, sibling)).status).toBe(200);
      otherWs.send({ type: 'ping' });
      await otherWs.next('pong', (m) => m.type === 'pong');
      expect(otherWs.closeCode).toBeUndefined();
      expect((await otherGql.collect('{ models { id } }')).length).toBe(1);

      // A revoked token cannot open a new connection either.
      const again = await WsTestClient.connect(b.url, { headers: bearer(revoked) });
      expect(await again.closed).toBe(4401);
      const gqlAgain = GraphqlWsTestClient.connect(b.url, { authorization: `Bearer ${revoked}` });
      expect(await gqlAgain.run('{ models { id } }').ended).toMatchObject({ code: 4403 });
      await gqlAgain.dispose();
    } finally {
      otherWs.socket.close();
      await Promise.all([gql.dispose(), otherGql.dispose()]);
    }
  });

  it("revoking a subject refuses the user's earlier tokens on every node, not later ones; lifting restores", async () => {
    const old = token({ sub: 'bob' });
    const other = token({ sub: 'carol' });
    const ws = await WsTestClient.connect(b.url, { headers: bearer(old) });
    const created = await api(b, 'POST', '', { sub: 'bob' });
    expect(created.status).toBe(201);
    const { issuedBefore } = (created.body as { data: { issuedBefore: string } }).data;
    await waitFor('node A to refuse bob', () => refusedOn(a, old));
    expect(await ws.closed).toBe(4401);
    expect((await models(a, other)).status).toBe(200);
    // A token issued after the cutoff (iat is in seconds: the next second) is accepted.
    const fresh = token({ sub: 'bob', iat: Math.ceil(Date.parse(issuedBefore) / 1000) + 1 });
    expect((await models(a, fresh)).status).toBe(200);

    const listed = await api(a, 'GET', '?kind=sub');
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ data: [{ kind: 'sub', value: 'bob', issuedBefore }], total: 1 });

    expect((await api(a, 'DELETE', '/sub/bob')).status).toBe(204);
    expect((await api(a, 'DELETE', '/sub/bob')).status).toBe(404);
    await waitFor('node B to accept bob again', async () => (await models(b, old)).status === 200);
  });

  it('keeps the API for admins, with OpenAI error JSON for bad input', async () => {
    const alice = token({ sub: 'alice' });
    const forbidden = await api(a, 'POST', '', { sub: 'bob' }, alice);
    expect(forbidden.status).toBe(403);
    expect((forbidden.body as ErrorBody).error).toMatchObject({
      type: 'permission_error',
      code: 'forbidden',
    });
    const anonymous = await fetch(`${a.url}/admin/revocations`);
    expect(anonymous.status).toBe(401);
    await anonymous.text();

    const bad: Array<[unknown, string]> = [
      [{}, 'jti'],
      [{ jti: 'x', sub: 'y' }, 'sub'],
      [{ jti: 'x', expiresAt: 'soon' }, 'expiresAt'],
      [{ jti: 'x', expiresAt: Math.floor(Date.now() / 1000) - 3600 }, 'expiresAt'],
      [{ sub: 'bob', issuedBefore: '2000-01-01T00:00:00Z' }, 'issuedBefore'],
      [{ sub: 'bob', color: 'red' }, 'color'],
    ];
    for (const [body, param] of bad) {
      const res = await api(a, 'POST', '', body);
      expect(res.status).toBe(400);
      expect((res.body as ErrorBody).error).toMatchObject({ type: 'invalid_request_error', param });
    }
    const notJson = await fetch(`${a.url}/admin/revocations`, {
      method: 'POST',
      headers: { ...bearer(ADMIN), 'content-type': 'application/json' },
      body: '{"jti": ',
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as ErrorBody).error.type).toBe('invalid_request_error');
    expect((await api(a, 'DELETE', '/iss/x')).status).toBe(400);
    expect((await api(a, 'GET', '?limit=0')).status).toBe(400);
  });
});

describe('revocations while Redis is away (own redis-server process)', () => {
  let redis: RedisServerProcess;
  let app: TestApp;

  beforeAll(async () => {
    redis = await RedisServerProcess.start();
    app = await startApp(jwtAuth(), { redis: { url: redis.url } });
  });

  afterAll(async () => {
    await app.close();
    await redis.stop();
  });

  it('still refuses what it knows, and answers 503 to a new revocation', async () => {
    const jti = randomUUID();
    const revoked = token({ sub: 'alice', jti });
    expect((await api(app, 'POST', '', { jti })).status).toBe(201);
    await redis.stop();

    expect(await models(app, revoked)).toEqual({ status: 401, message: 'The token has been revoked.' });
    const refused = await api(app, 'POST', '', { jti: randomUUID() });
    expect(refused.status).toBe(503);
    expect((refused.body as ErrorBody).error).toMatchObject({
      type: 'server_error',
      code: 'service_unavailable',
      message: 'The revocation list (Redis) is unavailable; retry shortly.',
    });
    expect((await api(app, 'GET', '')).status).toBe(503);
    const live = await fetch(`${app.url}/health/live`);
    expect(live.status).toBe(200);
    await live.text();
  });
});

describe('keys from a JWKS URL (a rotating IdP on loopback)', () => {
  const k1 = new SigningKey('k1', 'RS256');
  const k2 = new SigningKey('k2', 'ES256');
  const k3 = new SigningKey('k3', 'RS256');
  const k4 = new SigningKey('k4', 'ES256');
  const COOLDOWN_MS = 200;
  let idp: FakeIdp;
  let app: TestApp;

  const signed = (key: SigningKey, extra: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return key.sign({ sub: 'alice', iat: now, exp: now + 600, ...extra });
  };
  /** The next unknown-kid refetch may run (the condition, not a guess at a duration). */
  const cooldownPassed = () =>
    waitFor('the refetch cooldown', () => Date.now() - idp.lastFetchAt > COOLDOWN_MS * 1.5);

  beforeAll(async () => {
    idp = await FakeIdp.start(k1);
    app = await startApp(
      jwtAuth({
        jwt: {
          algorithms: ['HS256', 'RS256', 'ES256'],
          jwks_url: idp.url,
          jwks_refetch_cooldown: `${COOLDOWN_MS}ms`,
        },
      }),
    );
  });

  afterAll(async () => {
    await app.close();
    await idp.close();
  });

  it('accepts the first token after boot, then a rotated-in key on its first request; a removed key is refused', async () => {
    expect(idp.fetches).toBe(1); // at boot
    const first = signed(k1);
    expect((await models(app, first)).status).toBe(200);

    idp.keys = [k2];
    await cooldownPassed();
    expect((await models(app, signed(k2))).status).toBe(200);
    expect(idp.fetches).toBe(2);
    expect(await models(app, first)).toEqual({
      status: 401,
      message: "The token's signing key is not known.",
    });

    const ws = await WsTestClient.connect(app.url, { headers: bearer(signed(k2)) });
    ws.send({ type: 'ping' });
    await ws.next('pong', (m) => m.type === 'pong');
    ws.socket.close();

    // graphql-ws connects wait for the refetch too.
    idp.keys = [k2, k3];
    await cooldownPassed();
    const gql = GraphqlWsTestClient.connect(app.url, { authorization: `Bearer ${signed(k3)}` });
    try {
      expect((await gql.collect('{ models { id } }')).length).toBe(1);
    } finally {
      await gql.dispose();
    }
    // So does GraphQL over HTTP, whose token is checked before the body is read.
    idp.keys = [k2, k3, k4];
    await cooldownPassed();
    const http = await graphqlHttp(app.url, '{ models { id } }', undefined, bearer(signed(k4)));
    expect({ status: http.status, errors: http.body.errors }).toEqual({ status: 200, errors: undefined });
    // HS256 tokens still verify against the secret only.
    expect((await models(app, ADMIN)).status).toBe(200);
  });

  it('a flood of made-up kids costs the IdP one fetch per cooldown at most (the probe keeps answering)', async () => {
    await cooldownPassed();
    const before = idp.fetches;
    const rogue = new SigningKey('rogue', 'RS256');
    const { probe: idle } = await probeDuring(
      app.url,
      () => new Promise((resolve) => setTimeout(resolve, 400)),
    );
    const started = Date.now();
    const { result: statuses, probe: flood } = await probeDuring(app.url, async () => {
      const seen: number[] = [];
      for (let round = 0; round < 10; round++) {
        const batch = Array.from({ length: 20 }, () =>
          rogue.sign({ sub: 'x', exp: 9e9 }, { kid: randomUUID() }),
        );
        seen.push(...(await Promise.all(batch.map(async (t) => (await models(app, t)).status))));
      }
      return seen;
    });
    const elapsed = Date.now() - started;
    expect(new Set(statuses)).toEqual(new Set([401]));
    const fetched = idp.fetches - before;
    // One at the start of the flood, then at most one per cooldown while it lasted.
    expect(fetched).toBeGreaterThanOrEqual(1);
    expect(fetched).toBeLessThanOrEqual(1 + Math.ceil(elapsed / COOLDOWN_MS));
    process.stdout.write(
      `jwks flood: ${statuses.length} tokens with random kids in ${elapsed} ms -> ${fetched} IdP fetches ` +
        `(cooldown ${COOLDOWN_MS} ms); ${describeProbe('no load', idle)}; ${describeProbe('the flood', flood)}\n`,
    );
    expect(flood.failed).toBe(0);
  });
});
