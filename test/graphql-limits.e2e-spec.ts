import { getIntrospectionQuery } from 'graphql';
import { startApp, type TestApp } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import { CREATE_COMPLETION, echoInput, graphqlHttp, RawGraphqlWs } from './support/graphql-client';
import { memoryMb, probeDuring } from './support/probe';
import { rawRequest } from './support/raw-http';

/**
 * The GraphQL bombs of issue 16, on an app that requires tokens: refused before parsing without a token
 * (401), refused by the limit they break with one (400 naming it), over HTTP and graphql-ws, while a probe on
 * GET /health/live (from a thread of its own) keeps answering. Its worst latency and the event-loop stall are
 * printed, not asserted.
 */

const ALICE = token({ sub: 'alice' });
const repeat = (text: string, times: number): string => Array.from({ length: times }, () => text).join(' ');
const list = (times: number, item: (i: number) => string): string =>
  Array.from({ length: times }, (_, i) => item(i)).join(' ');

interface Bomb {
  name: string;
  query: string;
  code: 'QUERY_TOO_LARGE' | 'QUERY_TOO_COMPLEX';
  limit: string;
}

const BOMBS: Bomb[] = [
  {
    name: '20,000 __typename (215 KB)',
    query: `{ ${repeat('__typename', 20_000)} }`,
    code: 'QUERY_TOO_LARGE',
    limit: 'max_document_size',
  },
  {
    name: '60,000 __typename (645 KB, under the body limit)',
    query: `{ ${repeat('__typename', 60_000)} }`,
    code: 'QUERY_TOO_LARGE',
    limit: 'max_document_size',
  },
  {
    name: '5,000 aliased __schema',
    query: `{ ${list(5_000, (i) => `s${i}: __schema { types { name } }`)} }`,
    code: 'QUERY_TOO_LARGE',
    limit: 'max_document_size',
  },
  {
    name: '16,000 one-letter fields in 32 KB',
    query: `{ ${repeat('a', 16_000)} }`,
    code: 'QUERY_TOO_LARGE',
    limit: 'max_tokens',
  },
  {
    name: 'selection sets 1,500 deep',
    query: `{ ${repeat('models {', 1_500)} id ${repeat('}', 1_500)} }`,
    code: 'QUERY_TOO_COMPLEX',
    limit: 'max_depth',
  },
  {
    name: 'fragment bomb (2^40 fields)',
    query: `{ models { ...F40 } } fragment F0 on Model { id virtual } ${list(
      40,
      (i) => `fragment F${i + 1} on Model { ...F${i} ...F${i} }`,
    )}`,
    code: 'QUERY_TOO_COMPLEX',
    limit: 'max_fields',
  },
  {
    name: '21 aliased __schema',
    query: `{ ${list(21, (i) => `s${i}: __schema { types { name fields { name } } }`)} }`,
    code: 'QUERY_TOO_COMPLEX',
    limit: 'max_root_fields',
  },
  {
    name: '31 aliases inside __schema',
    query: `{ __schema { ${list(31, (i) => `t${i}: types { name }`)} } }`,
    code: 'QUERY_TOO_COMPLEX',
    limit: 'max_aliases',
  },
  {
    name: '400 repeated fields(includeDeprecated)',
    query: `{ __schema { types { ${repeat('fields(includeDeprecated: true) { name }', 400)} } } }`,
    code: 'QUERY_TOO_COMPLEX',
    limit: 'max_repeated_fields',
  },
  {
    name: '6 operations',
    query: list(6, (i) => `query Q${i} { models { id } }`),
    code: 'QUERY_TOO_COMPLEX',
    limit: 'max_operations',
  },
];

async function post(
  app: TestApp,
  body: string,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  body: { errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}> {
  const res = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as never };
}

const SENDS = 4; // each bomb, at once
// Serialized before the attacks: the client shares the app's process and event loop.
const BODIES = BOMBS.map((bomb) => JSON.stringify({ query: bomb.query }));

describe('GraphQL query limits', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp(jwtAuth());
    // Once each, unmeasured: the first pass through these code paths (JIT, lazy module loading) stalls on its
    // own, and the client sending them shares this process.
    for (const body of BODIES) {
      await post(app, body);
      await post(app, body, bearer(ALICE));
    }
  });
  afterAll(() => app.close());

  it('over HTTP without a token: every bomb is refused with 401 before anything is parsed', async () => {
    const before = memoryMb();
    const { result, probe } = await probeDuring(app.url, () =>
      Promise.all(BODIES.flatMap((body) => Array.from({ length: SENDS }, () => post(app, body)))),
    );
    const after = memoryMb();
    console.log(
      `no token: ${result.length} bombs, /health/live answered ${probe.answered} times, worst ` +
        `${probe.worstMs.toFixed(0)} ms, event loop stalled at most ${probe.loopDelayMaxMs.toFixed(0)} ms; ` +
        `RSS ${before.rss} -> ${after.rss} MB, heap ${before.heapUsed} -> ${after.heapUsed} MB`,
    );
    for (const reply of result) {
      expect(reply.status).toBe(401);
      expect(reply.body.errors?.[0]?.extensions?.code).toBe('UNAUTHORIZED');
    }
    expect(probe.answered).toBeGreaterThan(0);
    expect(probe.failed).toBe(0);
    expect(after.rss - before.rss).toBeLessThan(300);
    // Not even read: a body that is not JSON, or a query that does not parse, gets the same 401.
    for (const body of [
      '{ not json',
      JSON.stringify({ query: '{{{{' }),
      JSON.stringify([{ query: '{ a }' }]),
    ]) {
      const reply = await post(app, body);
      expect(reply.status).toBe(401);
      expect(reply.body.errors?.[0]?.extensions?.code).toBe('UNAUTHORIZED');
    }
    const get = await fetch(
      `${app.url}/graphql?query=${encodeURIComponent('{ __schema { types { name } } }')}`,
    );
    expect(get.status).toBe(401);
  });

  it('over HTTP with a token: each bomb gets 400 naming the limit it breaks, with max and actual', async () => {
    const before = memoryMb();
    const { result, probe } = await probeDuring(app.url, () =>
      Promise.all(
        BOMBS.flatMap((bomb, i) =>
          Array.from({ length: SENDS }, async () => ({
            bomb,
            reply: await post(app, BODIES[i]!, bearer(ALICE)),
          })),
        ),
      ),
    );
    const after = memoryMb();
    console.log(
      `with a token: ${result.length} bombs, /health/live answered ${probe.answered} times, worst ` +
        `${probe.worstMs.toFixed(0)} ms, event loop stalled at most ${probe.loopDelayMaxMs.toFixed(0)} ms; ` +
        `RSS ${before.rss} -> ${after.rss} MB, heap ${before.heapUsed} -> ${after.heapUsed} MB`,
    );
    for (const { bomb, reply } of result) {
      expect({ bomb: bomb.name, status: reply.status }).toEqual({ bomb: bomb.name, status: 400 });
      expect(reply.body.errors).toHaveLength(1);
      const error = reply.body.errors![0]!;
      expect({ bomb: bomb.name, ...error.extensions }).toEqual({
        bomb: bomb.name,
        code: bomb.code,
        limit: bomb.limit,
        max: app.config.streaming.protocols.graphql[bomb.limit as 'max_depth'],
        actual: expect.any(Number),
      });
      expect(error.extensions!.actual as number).toBeGreaterThan(error.extensions!.max as number);
      expect(error.message).toContain(`streaming.protocols.graphql.${bomb.limit}`);
    }
    expect(probe.answered).toBeGreaterThan(0);
    expect(probe.failed).toBe(0);
    expect(after.rss - before.rss).toBeLessThan(300);
  });

  it('answers requests Apollo cannot read (not JSON, another media type, over the body limit) GraphQL-shaped', async () => {
    const cases: Array<[string, Record<string, string>, number, string]> = [
      ['{ "query": ', { 'content-type': 'application/json' }, 400, 'BAD_REQUEST'],
      // Fastify reads text/plain; Apollo refuses it (a CSRF-prone "simple" request).
      ['{ models { id } }', { 'content-type': 'text/plain' }, 400, 'BAD_REQUEST'],
      ['{ models { id } }', { 'content-type': 'application/graphql' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        JSON.stringify({ query: `{ __typename } #${'x'.repeat(app.config.server.body_limit)}` }),
        { 'content-type': 'application/json' },
        413,
        'REQUEST_TOO_LARGE',
      ],
    ];
    for (const [body, headers, status, code] of cases) {
      const reply = await post(app, body, { ...headers, ...bearer(ALICE) });
      expect({ status: reply.status, code: reply.body.errors?.[0]?.extensions?.code }).toEqual({
        status,
        code,
      });
      expect(reply.body.errors?.[0]?.message).toEqual(expect.any(String));
    }
  });

  it('refuses batched HTTP requests (an array of operations) with 400', async () => {
    const reply = await post(
      app,
      JSON.stringify([{ query: '{ models { id } }' }, { query: '{ providers { id } }' }]),
      bearer(ALICE),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.errors?.[0]?.message).toMatch(/batching/i);
  });

  it('leaves ordinary queries, mutations, GET queries and standard introspection as they were', async () => {
    const models = await graphqlHttp<{ models: Array<{ id: string }> }>(
      app.url,
      '{ models { id ...M } } fragment M on Model { id virtual __typename }',
      undefined,
      bearer(ALICE),
    );
    expect(models.status).toBe(200);
    expect(models.body.data?.models.length).toBeGreaterThan(0);
    const created = await graphqlHttp<{ createCompletion: { completionId: string } }>(
      app.url,
      CREATE_COMPLETION,
      { input: echoInput('within the limits') },
      bearer(ALICE),
    );
    expect(created.body.errors).toBeUndefined();
    expect(created.body.data?.createCompletion.completionId).toMatch(/^chatcmpl-/);
    const get = await fetch(`${app.url}/graphql?query=${encodeURIComponent('{ models { id } }')}`, {
      headers: { ...bearer(ALICE), 'apollo-require-preflight': 'true' },
    });
    expect(get.status).toBe(200);
    // What GraphiQL and codegen send: 15 deep, 220 fields, within every default.
    const introspection = await graphqlHttp<{ __schema: { types: unknown[] } }>(
      app.url,
      getIntrospectionQuery(),
      undefined,
      bearer(ALICE),
    );
    expect(introspection.status).toBe(200);
    expect(introspection.body.data?.__schema.types.length).toBeGreaterThan(10);
    const syntax = await graphqlHttp(app.url, '{ models { id ', undefined, bearer(ALICE));
    expect(syntax.status).toBe(400);
    expect(syntax.body.errors?.[0]).toMatchObject({
      extensions: { code: 'GRAPHQL_PARSE_FAILED' },
      locations: [{ line: 1, column: 15 }],
    });
  });

  it('GET: limits the query Apollo runs, even when the query-string parser cannot decode it', async () => {
    // Fastify's query-string parser keeps a value it cannot decode (%FF is not UTF-8) as it was sent, while
    // Apollo reads the URL with URLSearchParams, which decodes it. Sent as is, the value is one small
    // operation whose string argument holds the rest; decoded, the string ends at %22 and operation B, with
    // 41 root fields, is what operationName picks.
    const bomb = encodeURIComponent(list(41, (i) => `m${i}: models { id }`));
    const query =
      `query,A{completion(completionId:"%22){completionId}}query,B{${bomb}}` +
      `query,C{completion(completionId:%22%FF"){completionId}}`;
    const reply = await rawRequest(
      app.url,
      `GET /graphql?query=${query}&operationName=B HTTP/1.1\r\nHost: x\r\n` +
        `Authorization: Bearer ${ALICE}\r\napollo-require-preflight: true\r\nConnection: close\r\n\r\n`,
    );
    const body = JSON.parse(reply.body) as { errors?: Array<{ extensions?: Record<string, unknown> }> };
    expect({ status: reply.status, ...body.errors?.[0]?.extensions }).toEqual({
      status: 400,
      code: 'QUERY_TOO_COMPLEX',
      limit: 'max_root_fields',
      max: 20,
      actual: 41,
    });
  });

  it('over graphql-ws: the same refusals as error messages, the connection staying usable', async () => {
    const ws = await RawGraphqlWs.open(app.url, { authorization: `Bearer ${ALICE}` });
    const before = memoryMb();
    try {
      const { result, probe } = await probeDuring(app.url, async () => {
        BOMBS.forEach((bomb, i) => ws.subscribe(`bomb-${i}`, { query: bomb.query }));
        return Promise.all(BOMBS.map((_, i) => ws.outcome(`bomb-${i}`)));
      });
      const after = memoryMb();
      console.log(
        `graphql-ws: ${result.length} bombs, /health/live answered ${probe.answered} times, worst ` +
          `${probe.worstMs.toFixed(0)} ms, event loop stalled at most ${probe.loopDelayMaxMs.toFixed(0)} ms; ` +
          `RSS ${before.rss} -> ${after.rss} MB, heap ${before.heapUsed} -> ${after.heapUsed} MB`,
      );
      result.forEach((outcome, i) => {
        const bomb = BOMBS[i]!;
        expect({ bomb: bomb.name, kind: outcome.kind }).toEqual({ bomb: bomb.name, kind: 'error' });
        if (outcome.kind !== 'error') return;
        expect(outcome.errors[0]?.extensions).toMatchObject({ code: bomb.code, limit: bomb.limit });
      });
      expect(probe.answered).toBeGreaterThan(0);
      expect(probe.failed).toBe(0);
      expect(after.rss - before.rss).toBeLessThan(300);
      ws.subscribe('after', { query: '{ models { id } }' });
      const after2 = await ws.outcome('after');
      expect(after2.kind).toBe('complete');
      expect(ws.close).toBeUndefined();
    } finally {
      await ws.dispose();
    }
  });

  it('over graphql-ws without a token: closed with 4403 before any operation is read', async () => {
    const ws = await RawGraphqlWs.open(app.url, {});
    expect(ws.close?.code).toBe(4403);
    expect(ws.messages.some((m) => m.type === 'connection_ack')).toBe(false);
  });

  describe('introspection', () => {
    const SCHEMA = '{ __schema { queryType { name } } }';

    it('in development it is on, and with auth on it needs a token like everything else', async () => {
      const none = await graphqlHttp(app.url, SCHEMA);
      expect(none.status).toBe(401);
      const withToken = await graphqlHttp<{ __schema: { queryType: { name: string } } }>(
        app.url,
        SCHEMA,
        undefined,
        bearer(ALICE),
      );
      expect(withToken.body.data?.__schema.queryType.name).toBe('Query');
    });

    it('in production it is off unless enabled, on HTTP and graphql-ws, with an error naming the setting', async () => {
      const production = await startApp(jwtAuth(), { server: { environment: 'production' } });
      const enabled = await startApp(jwtAuth(), {
        server: { environment: 'production' },
        streaming: { protocols: { graphql: { introspection: true } } },
      });
      const ws = await RawGraphqlWs.open(production.url, { authorization: `Bearer ${ALICE}` });
      try {
        const refused = await graphqlHttp(production.url, SCHEMA, undefined, bearer(ALICE));
        expect(refused.status).toBe(400);
        expect(refused.body.errors?.[0]).toMatchObject({
          message: expect.stringContaining('streaming.protocols.graphql.introspection'),
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED', setting: 'introspection' },
        });
        const type = await graphqlHttp(
          production.url,
          '{ __type(name: "Model") { name } }',
          undefined,
          bearer(ALICE),
        );
        expect(type.body.errors?.[0]?.extensions?.setting).toBe('introspection');
        ws.subscribe('s', { query: SCHEMA });
        const outcome = await ws.outcome('s');
        expect(outcome).toMatchObject({
          kind: 'error',
          errors: [{ extensions: { code: 'GRAPHQL_VALIDATION_FAILED', setting: 'introspection' } }],
        });
        // Ordinary queries (and __typename) are not introspection.
        const models = await graphqlHttp(
          production.url,
          '{ __typename models { id } }',
          undefined,
          bearer(ALICE),
        );
        expect(models.body.errors).toBeUndefined();
        const allowed = await graphqlHttp<{ __schema: { queryType: { name: string } } }>(
          enabled.url,
          SCHEMA,
          undefined,
          bearer(ALICE),
        );
        expect(allowed.body.data?.__schema.queryType.name).toBe('Query');
      } finally {
        await ws.dispose();
        await production.close();
        await enabled.close();
      }
    });
  });
});
