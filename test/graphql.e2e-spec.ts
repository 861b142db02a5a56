import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { ApolloClient, ApolloLink, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { Kind, OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { EventBus } from '../src/events/event-bus.service';
import { SubscriptionGate } from '../src/graphql/subscription-gate';
import { StreamHub } from '../src/streaming/hub/stream-hub.service';
import { CircuitBreakerService } from '../src/routing/circuit-breaker.service';
import { startApp, type TestApp } from './support/app';
import {
  COMPLETION_STREAM,
  CREATE_COMPLETION,
  echoInput,
  graphqlHttp,
  GraphqlWsTestClient,
  type StreamEventResult,
} from './support/graphql-client';
import { bearer, jwtAuth, token } from './support/auth';
import { freePort } from './support/redis';
import { contentOf, jsonFrames, postJson, readSse, readSseFromFirstEvent } from './support/sse-client';
import { waitFor } from './support/wait';
import { WsTestClient } from './support/ws-client';

interface Created {
  createCompletion: {
    completionId: string;
    model: string;
    provider: string;
    status: string;
    createdAt: string;
  };
}
interface Streamed {
  completionStream: StreamEventResult;
}

const LONG_TEXT = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');

describe('GraphQL /graphql', () => {
  let t: TestApp;
  let gql1: GraphqlWsTestClient;

  beforeAll(async () => {
    t = await startApp({
      streaming: { error_handling: { circuit_breaker_min_requests: 2, circuit_breaker_cool_down: '1m' } },
    });
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => {
    gql1 = GraphqlWsTestClient.connect(t.url);
  });
  afterEach(async () => {
    await gql1.dispose();
  });

  async function create(input: Record<string, unknown>): Promise<string> {
    const [result] = await gql1.collect<Created>(CREATE_COMPLETION, { input });
    expect(result?.errors).toBeUndefined();
    return result!.data!.createCompletion.completionId;
  }

  it('graphql-ws: createCompletion, then completionStream gives CONTENT_CHUNKs and COMPLETED with usage', async () => {
    const id = await create(echoInput('hello from graphql'));
    const results = await gql1.collect<Streamed>(COMPLETION_STREAM, { id });
    const events = results.map((r) => r.data!.completionStream);
    const chunks = events.filter((e) => e.eventType === 'CONTENT_CHUNK');
    expect(chunks.map((e) => e.content).join('')).toBe('hello from graphql');
    const last = events.at(-1)!;
    expect(last.eventType).toBe('COMPLETED');
    expect(last.usage).toEqual({
      promptTokens: expect.any(Number),
      completionTokens: 3,
      totalTokens: expect.any(Number),
    });
    expect(last.metadata).toMatchObject({
      finishReason: 'stop',
      model: 'simulated/echo',
      provider: 'simulated',
    });
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.every((e) => e.completionId === id && !Number.isNaN(Date.parse(e.timestamp)))).toBe(true);
  });

  it('a subscriber arriving mid-stream or after the end misses nothing, and afterSequence resumes', async () => {
    const slow = await startApp({ providers: { simulated: { tokens_per_second: 60 } } });
    const client = GraphqlWsTestClient.connect(slow.url);
    try {
      const [created] = await client.collect<Created>(CREATE_COMPLETION, { input: echoInput(LONG_TEXT) });
      const id = created!.data!.createCompletion.completionId;
      // Some events are out already: a first subscriber has seen them.
      const first = client.run<Streamed>(COMPLETION_STREAM, { id });
      await waitFor('some events out already', () => first.results.length >= 3);
      const early = client.run<Streamed>(COMPLETION_STREAM, { id });
      await early.ended;
      const late = await client.collect<Streamed>(COMPLETION_STREAM, { id });
      const resumed = await client.collect<Streamed>(COMPLETION_STREAM, { id, after: 10 });
      const text = (rs: Array<{ data?: Streamed | null }>) =>
        rs
          .map((r) => r.data!.completionStream)
          .filter((e) => e.eventType === 'CONTENT_CHUNK')
          .map((e) => e.content)
          .join('');
      expect(text(early.results)).toBe(LONG_TEXT);
      expect(text(late)).toBe(LONG_TEXT);
      const sequences = early.results.map((r) => r.data!.completionStream.sequence);
      expect(sequences).toEqual(sequences.map((_, i) => i + 1));
      expect(resumed.map((r) => r.data!.completionStream.sequence)).toEqual(sequences.slice(10));
      const result = await graphqlHttp<{
        completion: { status: string; content: string; finishedAt: string };
      }>(slow.url, `query($id: ID!) { completion(completionId: $id) { status content finishedAt } }`, { id });
      expect(result.body.data?.completion).toMatchObject({ status: 'COMPLETED', content: LONG_TEXT });
    } finally {
      await client.dispose();
      await slow.close();
    }
  });

  it('@apollo/client with GraphQLWsLink: mutation, subscription to COMPLETED with usage, result query', async () => {
    const wsClient = createClient({
      url: `${t.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    const link = ApolloLink.split(
      ({ query }) => {
        const definition = getMainDefinition(query);
        return (
          definition.kind === Kind.OPERATION_DEFINITION &&
          definition.operation === OperationTypeNode.SUBSCRIPTION
        );
      },
      new GraphQLWsLink(wsClient),
      new HttpLink({ uri: `${t.url}/graphql`, fetch }),
    );
    const apollo = new ApolloClient({ link, cache: new InMemoryCache() });
    try {
      const created = await apollo.mutate<Created>({
        mutation: gql(CREATE_COMPLETION),
        variables: { input: echoInput('apollo says hi') },
      });
      const id = created.data!.createCompletion.completionId;
      const events = await new Promise<StreamEventResult[]>((resolve, reject) => {
        const seen: StreamEventResult[] = [];
        apollo.subscribe<Streamed>({ query: gql(COMPLETION_STREAM), variables: { id } }).subscribe({
          next: (result) => {
            if (result.error) reject(new Error(result.error.message));
            else if (result.data) seen.push(result.data.completionStream);
          },
          error: reject,
          complete: () => resolve(seen),
        });
      });
      expect(
        events
          .filter((e) => e.eventType === 'CONTENT_CHUNK')
          .map((e) => e.content)
          .join(''),
      ).toBe('apollo says hi');
      expect(events.at(-1)).toMatchObject({ eventType: 'COMPLETED', usage: { completionTokens: 3 } });
      const result = await apollo.query<{
        completion: { status: string; content: string; usage: { totalTokens: number } };
      }>({
        query: gql`
          query ($id: ID!) {
            completion(completionId: $id) {
              status
              content
              usage {
                totalTokens
              }
            }
          }
        `,
        variables: { id },
        fetchPolicy: 'no-cache',
      });
      expect(result.data?.completion).toMatchObject({ status: 'COMPLETED', content: 'apollo says hi' });
      const models = await apollo.query<{ models: Array<{ id: string; virtual: boolean }> }>({
        query: gql`
          {
            models {
              id
              virtual
            }
          }
        `,
      });
      expect(models.data?.models).toEqual(
        expect.arrayContaining([expect.objectContaining({ id: 'simulated/echo' })]),
      );
    } finally {
      apollo.stop();
      await wsClient.dispose();
    }
  });

  it('models and providers (health and circuit state) queries', async () => {
    const breaker = t.app.get(CircuitBreakerService);
    for (let i = 0; i < 2; i++) await breaker.record('simulated', 'simulated/lorem', false, false);
    const reply = await graphqlHttp<{
      providers: Array<{
        id: string;
        type: string;
        configured: boolean;
        healthy: boolean;
        circuits: Array<{ model: string; state: string; failures: number; errorRate: number }>;
      }>;
    }>(
      t.url,
      '{ providers { id type configured healthy circuits { model state failures errorRate retryAt } } }',
    );
    expect(reply.status).toBe(200);
    const simulated = reply.body.data!.providers.find((p) => p.id === 'simulated')!;
    expect(simulated).toMatchObject({ type: 'simulated', configured: true, healthy: false });
    expect(simulated.circuits.find((c) => c.model === 'simulated/lorem')).toMatchObject({
      state: 'OPEN',
      failures: 2,
      errorRate: 100,
      retryAt: expect.any(String),
    });
    const openai = reply.body.data!.providers.find((p) => p.id === 'openai')!;
    expect(openai).toMatchObject({ configured: false, healthy: false });
    await breaker.reset('simulated', 'simulated/lorem');
  });

  it('cancelCompletion ends a running stream with ERROR (cancelled) and the result says CANCELLED', async () => {
    const slow = await startApp({ providers: { simulated: { tokens_per_second: 20 } } });
    const client = GraphqlWsTestClient.connect(slow.url);
    try {
      const [created] = await client.collect<Created>(CREATE_COMPLETION, { input: echoInput(LONG_TEXT) });
      const id = created!.data!.createCompletion.completionId;
      const stream = client.run<Streamed>(COMPLETION_STREAM, { id });
      await waitFor('a first chunk', () => stream.results.length > 0);
      const [cancelled] = await client.collect<{ cancelCompletion: boolean }>(
        `mutation($id: ID!) { cancelCompletion(completionId: $id) }`,
        { id },
      );
      expect(cancelled!.data!.cancelCompletion).toBe(true);
      expect(await stream.ended).toBeUndefined();
      const last = stream.results.at(-1)!.data!.completionStream;
      expect(last).toMatchObject({ eventType: 'ERROR', metadata: { error: { code: 'cancelled' } } });
      const [again] = await client.collect<{ cancelCompletion: boolean }>(
        `mutation($id: ID!) { cancelCompletion(completionId: $id) }`,
        { id },
      );
      expect(again!.data!.cancelCompletion).toBe(false);
      const result = await graphqlHttp<{ completion: { status: string; error: { code: string } } }>(
        slow.url,
        `query($id: ID!) { completion(completionId: $id) { status error { code } } }`,
        { id },
      );
      expect(result.body.data!.completion).toEqual({ status: 'CANCELLED', error: { code: 'cancelled' } });
    } finally {
      await client.dispose();
      await slow.close();
    }
  });

  describe('bad input gets GraphQL errors with extensions.code, and the connection carries on', () => {
    it('over HTTP', async () => {
      const syntax = await graphqlHttp(t.url, '{ models { id ');
      expect(syntax.status).toBe(400);
      expect(syntax.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
      const unknownField = await graphqlHttp(t.url, '{ models { nope } }');
      expect(unknownField.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const wrongVariable = await graphqlHttp(t.url, CREATE_COMPLETION, { input: { model: 3 } });
      expect(wrongVariable.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const unknownId = await graphqlHttp(t.url, '{ completion(completionId: "nope") { status } }');
      expect(unknownId.body.errors?.[0]).toMatchObject({
        path: ['completion'],
        extensions: { code: 'NOT_FOUND', param: 'completionId' },
      });
      const badTemperature = await graphqlHttp(t.url, CREATE_COMPLETION, {
        input: { ...echoInput('x'), temperature: 5 },
      });
      expect(badTemperature.body.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        param: 'temperature',
      });
      const badRole = await graphqlHttp(t.url, CREATE_COMPLETION, {
        input: { model: 'simulated/echo', messages: [{ role: 'robot', content: 'x' }] },
      });
      expect(badRole.body.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        param: 'messages[0].role',
      });
      const unknownModel = await graphqlHttp(t.url, CREATE_COMPLETION, {
        input: echoInput('x', 'acme/nothing'),
      });
      expect(unknownModel.body.errors?.[0]?.extensions?.code).toBe('MODEL_NOT_FOUND');
      const cancelUnknown = await graphqlHttp(t.url, 'mutation { cancelCompletion(completionId: "nope") }');
      expect(cancelUnknown.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      expect(JSON.stringify([syntax, unknownField, wrongVariable, unknownId])).not.toMatch(
        /stacktrace|at \w+ \(/,
      );
    });

    it('over graphql-ws', async () => {
      const codesOf = (error: unknown) =>
        (error as Array<{ extensions?: { code?: string } }>).map((e) => e.extensions?.code);
      const syntax = gql1.run('subscription { completionStream(completionId: "x") { eventType ');
      expect(codesOf(await syntax.ended)).toEqual(['GRAPHQL_PARSE_FAILED']);
      const unknownField = gql1.run('subscription { completionStream(completionId: "x") { nope } }');
      expect(codesOf(await unknownField.ended)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      const wrongVariable = gql1.run(COMPLETION_STREAM, { id: 'x', after: 'ten' });
      expect(await wrongVariable.ended).toBeUndefined();
      expect(wrongVariable.results[0]?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      for (const query of [
        'subscription { completionStream(completionId: "nope") { eventType } }',
        'subscription { workflowStream(workflowId: "nope") { eventType } }',
        'subscription { agentExecutionStream(executionId: "nope") { eventType } }',
      ]) {
        const op = gql1.run(query);
        expect(await op.ended).toBeUndefined();
        expect(op.results[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      }
      // The same connection still works.
      const id = await create(echoInput('still here'));
      const events = await gql1.collect<Streamed>(COMPLETION_STREAM, { id });
      expect(events.at(-1)!.data!.completionStream.eventType).toBe('COMPLETED');
      expect(gql1.closes).toEqual([]);
      expect(t.app.get(SubscriptionGate).size).toBe(0);
    });

    it('a WebSocket without the graphql-transport-ws subprotocol is closed with 4406', async () => {
      const code = await new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(`${t.url.replace('http', 'ws')}/graphql`);
        socket.on('close', (c: number) => resolve(c));
        socket.on('error', reject);
      });
      expect(code).toBe(4406);
    });
  });

  it('enforces max_subscriptions and subscription_timeout, and frees slots on complete and disconnect', async () => {
    const limited = await startApp({
      streaming: { protocols: { graphql: { max_subscriptions: 2, subscription_timeout: '600ms' } } },
      providers: { simulated: { tokens_per_second: 2 } },
    });
    const a = GraphqlWsTestClient.connect(limited.url);
    const b = GraphqlWsTestClient.connect(limited.url);
    const gate = limited.app.get(SubscriptionGate);
    const bus = limited.app.get(EventBus);
    try {
      const [created] = await a.collect<Created>(CREATE_COMPLETION, { input: echoInput(LONG_TEXT) });
      const id = created!.data!.createCompletion.completionId;
      const first = a.run<Streamed>(COMPLETION_STREAM, { id });
      const second = b.run(`subscription { systemEvents { eventType } }`);
      await waitFor('two live subscriptions', () => gate.size === 2);
      const third = a.run<Streamed>(COMPLETION_STREAM, { id });
      expect(await third.ended).toBeUndefined();
      expect(third.results[0]?.errors?.[0]?.extensions?.code).toBe('TOO_MANY_SUBSCRIPTIONS');

      first.cancel(); // client complete frees its slot
      await waitFor('a freed slot', () => gate.size === 1);
      const fourth = a.run<Streamed>(COMPLETION_STREAM, { id });
      const timedOut = (await fourth.ended) as Array<{ extensions?: { code?: string } }>;
      expect(timedOut[0]?.extensions?.code).toBe('SUBSCRIPTION_TIMEOUT');
      expect(fourth.results.length).toBeGreaterThan(0); // it streamed until the limit
      await b.dispose(); // disconnect frees the other (the systemEvents one may have timed out already)
      void second.ended;
      // Only this node's own listeners are left on the bus: the hub's (controls and starts) and workflow runs'.
      await waitFor('every slot free', () => gate.size === 0 && bus.subscriptionCount === 3);
      const metrics = await (await fetch(`${limited.url}/metrics`)).text();
      expect(metrics).toContain('cb_graphql_subscriptions 0');
      expect(metrics).toContain('cb_graphql_subscriptions_refused_total{reason="too_many"} 1');
      expect(metrics).toMatch(/cb_graphql_subscriptions_refused_total\{reason="timeout"\} [12]/);
      await limited.app.get(StreamHub).cancel(id);
    } finally {
      await a.dispose();
      await limited.close();
    }
  });

  it('afterSequence at or past the end completes at once; a negative one is BAD_USER_INPUT', async () => {
    const id = await create(echoInput('short one'));
    const all = await gql1.collect<Streamed>(COMPLETION_STREAM, { id });
    const last = all.at(-1)!.data!.completionStream.sequence;
    expect(await gql1.collect<Streamed>(COMPLETION_STREAM, { id, after: last })).toEqual([]);
    expect(await gql1.collect<Streamed>(COMPLETION_STREAM, { id, after: last + 10 })).toEqual([]);
    const negative = await gql1.collect<Streamed>(COMPLETION_STREAM, { id, after: -1 });
    expect(negative[0]?.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      param: 'afterSequence',
    });
    expect(t.app.get(SubscriptionGate).size).toBe(0);
  });

  it('a subscription sent over HTTP gets 400 BAD_REQUEST pointing to graphql-ws', async () => {
    const reply = await graphqlHttp(t.url, 'subscription { systemEvents { eventType } }');
    expect(reply.status).toBe(400);
    expect(reply.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('graphql-transport-ws'),
      extensions: { code: 'BAD_REQUEST' },
    });
  });

  it('at shutdown, live subscriptions end with a retryable SERVICE_UNAVAILABLE and sockets close with 1001', async () => {
    // A drain timeout far past the test's own: close() ends because the completion drained and the subscriptions
    // were ended, never by waiting the drain out (which would fail the test by its timeout).
    const app = await startApp({
      providers: { simulated: { tokens_per_second: 20 } },
      server: { shutdown: { drain_timeout: '10m' } },
    });
    const client = GraphqlWsTestClient.connect(app.url);
    const [created] = await client.collect<Created>(CREATE_COMPLETION, { input: echoInput('a b c d') });
    const id = created!.data!.createCompletion.completionId;
    const system = client.run('subscription { systemEvents { eventType } }');
    await waitFor('a live subscription', () => app.app.get(SubscriptionGate).size === 1);
    await app.close(); // the running completion drains (about 200 ms), then the sockets close
    const ended = (await system.ended) as Array<{ extensions?: { code?: string; retryable?: boolean } }>;
    expect(ended[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
    await waitFor('the close', () => client.closes.length > 0);
    expect(client.closes).toEqual([1001]);
    expect(id).toMatch(/^chatcmpl-/);
    await client.dispose();
  });

  it('with Redis away, bus subscriptions and unknown ids answer SERVICE_UNAVAILABLE, a completion runs from memory, and no slot is held', async () => {
    const port = await freePort();
    const app = await startApp({ redis: { url: `redis://127.0.0.1:${port}`, connect_timeout: '300ms' } });
    const client = GraphqlWsTestClient.connect(app.url);
    try {
      const system = client.run('subscription { systemEvents { eventType } }');
      expect(await system.ended).toBeUndefined();
      expect(system.results[0]?.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      // The hub needs no Redis between a provider and a follower on its node (it mirrors once Redis is back).
      const [created] = await client.collect<Created>(CREATE_COMPLETION, { input: echoInput('from memory') });
      expect(created?.errors).toBeUndefined();
      const id = created!.data!.createCompletion.completionId;
      const events = (await client.collect<Streamed>(COMPLETION_STREAM, { id })).map(
        (r) => r.data!.completionStream,
      );
      expect(events.at(-1)).toMatchObject({ eventType: 'COMPLETED', usage: { completionTokens: 2 } });
      const known = await graphqlHttp<{ completion: { status: string; content: string } }>(
        app.url,
        'query($id: ID!) { completion(completionId: $id) { status content } }',
        { id },
      );
      expect(known.body.data?.completion).toEqual({ status: 'COMPLETED', content: 'from memory' });
      const result = await graphqlHttp(app.url, '{ completion(completionId: "x") { status } }');
      expect(result.body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      const stream = client.run<Streamed>(
        'subscription { completionStream(completionId: "x") { eventType } }',
      );
      expect(await stream.ended).toBeUndefined();
      expect(stream.results[0]?.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(app.app.get(SubscriptionGate).size).toBe(0);
    } finally {
      await client.dispose();
      await app.close();
    }
  });

  it('/ws/stream and /graphql subscriptions stream at once on one server; unknown paths get 404', async () => {
    const ws = await WsTestClient.connect(t.url);
    const id = await create(echoInput('graphql side'));
    const gqlEvents = gql1.collect<Streamed>(COMPLETION_STREAM, { id });
    ws.send({
      type: 'completion',
      id: 'mux-1',
      model: 'simulated/echo',
      messages: [{ role: 'user', content: 'mux side' }],
    });
    const [events, end] = await Promise.all([gqlEvents, ws.end('mux-1')]);
    expect(end.type).toBe('completed');
    expect(ws.contentOf('mux-1')).toBe('mux side');
    expect(
      events
        .filter((r) => r.data!.completionStream.eventType === 'CONTENT_CHUNK')
        .map((r) => r.data!.completionStream.content)
        .join(''),
    ).toBe('graphql side');
    ws.socket.close();
    const refused = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${t.url.replace('http', 'ws')}/nowhere`);
      socket.on('unexpected-response', (_req, res: IncomingMessage) => resolve(res.statusCode ?? 0));
      socket.on('error', () => undefined);
    });
    expect(refused).toBe(404);
  });
});

/** A completion's text as GraphQL events give it: every CONTENT_CHUNK's content, joined. */
function textOf(events: StreamEventResult[]): string {
  return events
    .filter((e) => e.eventType === 'CONTENT_CHUNK')
    .map((e) => e.content)
    .join('');
}

/** Starts a completion over POST /v1/chat/completions (SSE) and returns its response and X-Completion-Id. */
async function startSse(
  url: string,
  content: string,
  headers: Record<string, string> = {},
): Promise<{ response: Response; id: string }> {
  const response = await postJson(
    `${url}/v1/chat/completions`,
    {
      model: 'simulated/echo',
      messages: [{ role: 'user', content }],
      stream: true,
      stream_options: { include_usage: true },
    },
    { headers },
  );
  expect(response.status).toBe(200);
  const id = response.headers.get('x-completion-id');
  expect(id).toMatch(/^chatcmpl-/);
  return { response, id: id! };
}

/** GraphQL completions are the stream hub's: whatever edge started one, completionStream follows it. */
describe('GraphQL completionStream on the stream hub', () => {
  let app: TestApp;
  let client: GraphqlWsTestClient;

  beforeAll(async () => {
    app = await startApp({ providers: { simulated: { tokens_per_second: 100 } } });
  });
  afterAll(async () => {
    await app.close();
  });
  beforeEach(() => {
    client = GraphqlWsTestClient.connect(app.url);
  });
  afterEach(async () => {
    await client.dispose();
  });

  it('a completion started over POST SSE is followed mid-stream with the same text, usage and numbering', async () => {
    const { response, id } = await startSse(app.url, LONG_TEXT);
    const sse = readSseFromFirstEvent(response);
    await sse.firstEvent; // it runs: the follower joins mid-stream and gets the history first
    const [read, followed] = await Promise.all([
      sse.done,
      client.collect<Streamed>(COMPLETION_STREAM, { id }),
    ]);
    const events = followed.map((r) => r.data!.completionStream);
    expect(contentOf(read)).toBe(LONG_TEXT);
    expect(textOf(events)).toBe(LONG_TEXT);
    const usage = jsonFrames(read).find((f) => f.usage)?.usage as Record<string, number>;
    const last = events.at(-1)!;
    expect(last).toMatchObject({
      eventType: 'COMPLETED',
      usage: {
        promptTokens: usage.prompt_tokens,
        completionTokens: usage.completion_tokens,
        totalTokens: usage.total_tokens,
      },
      metadata: { finishReason: 'stop', model: 'simulated/echo', provider: 'simulated' },
    });
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.every((e) => e.completionId === id)).toBe(true);
    // The SSE frames are numbered by the same hub: the last SSE id is the COMPLETED event's sequence.
    const sseSeqs = read.events.filter((e) => e.id !== '').map((e) => Number(e.id.split(':')[1]));
    expect(Math.max(...sseSeqs)).toBe(last.sequence);
    const result = await graphqlHttp<{ completion: { status: string; content: string } }>(
      app.url,
      'query($id: ID!) { completion(completionId: $id) { status content } }',
      { id },
    );
    expect(result.body.data?.completion).toEqual({ status: 'COMPLETED', content: LONG_TEXT });
  });

  it('afterSequence resumes after an SSE frame id: exactly the events after it, none twice', async () => {
    const { response, id } = await startSse(app.url, LONG_TEXT);
    const read = await readSse(response);
    const frames = read.events.filter((e) => e.id.startsWith(`${id}:`) && e.data !== '[DONE]');
    const cut = frames[9]!;
    const after = Number(cut.id.split(':')[1]);
    const upTo = frames
      .slice(0, 10)
      .map((f) => (JSON.parse(f.data) as { choices?: Array<{ delta?: { content?: string } }> }).choices)
      .map((choices) => choices?.[0]?.delta?.content ?? '')
      .join('');
    const resumed = (await client.collect<Streamed>(COMPLETION_STREAM, { id, after })).map(
      (r) => r.data!.completionStream,
    );
    expect(resumed[0]?.sequence).toBe(after + 1);
    expect(resumed.map((e) => e.sequence)).toEqual(resumed.map((_, i) => after + 1 + i));
    expect(upTo + textOf(resumed)).toBe(LONG_TEXT);
    expect(resumed.at(-1)?.eventType).toBe('COMPLETED');
    expect(app.app.get(SubscriptionGate).size).toBe(0);
  });

  it('a subscription the client completes frees its slot at once, and the SSE starter reads on', async () => {
    const slow = await startApp({ providers: { simulated: { tokens_per_second: 10 } } });
    const slowClient = GraphqlWsTestClient.connect(slow.url);
    try {
      const { response, id } = await startSse(slow.url, LONG_TEXT);
      const sse = readSse(response);
      const op = slowClient.run<Streamed>(COMPLETION_STREAM, { id });
      await waitFor('a first event', () => op.results.length > 0);
      op.cancel();
      await waitFor('its slot freed', () => slow.app.get(SubscriptionGate).size === 0);
      // The SSE starter is unaffected: it reads its completion to the end.
      expect(contentOf(await sse)).toBe(LONG_TEXT);
    } finally {
      await slowClient.dispose();
      await slow.close();
    }
  }, 15_000);
});

describe('GraphQL completions with auth on: users with resource scope own see only theirs', () => {
  const ALICE = token({ sub: 'alice' });
  const BOB = token({ sub: 'bob' });
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp(jwtAuth(), { providers: { simulated: { tokens_per_second: 100 } } });
  });
  afterAll(async () => {
    await app.close();
  });

  it("another user's completion started over SSE is FORBIDDEN to follow, read and cancel; its owner follows it", async () => {
    const { response, id } = await startSse(app.url, LONG_TEXT, bearer(ALICE));
    const sse = readSse(response);
    const bob = GraphqlWsTestClient.connect(app.url, { authorization: `Bearer ${BOB}` });
    const alice = GraphqlWsTestClient.connect(app.url, { authorization: `Bearer ${ALICE}` });
    try {
      const refused = bob.run<Streamed>(COMPLETION_STREAM, { id });
      expect(await refused.ended).toBeUndefined();
      expect(refused.results[0]?.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const read = await graphqlHttp(
        app.url,
        'query($id: ID!) { completion(completionId: $id) { status } }',
        { id },
        bearer(BOB),
      );
      expect(read.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const cancel = await graphqlHttp(
        app.url,
        'mutation($id: ID!) { cancelCompletion(completionId: $id) }',
        { id },
        bearer(BOB),
      );
      expect(cancel.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const own = (await alice.collect<Streamed>(COMPLETION_STREAM, { id })).map(
        (r) => r.data!.completionStream,
      );
      expect(textOf(own)).toBe(LONG_TEXT);
      expect(own.at(-1)?.eventType).toBe('COMPLETED');
      expect(contentOf(await sse)).toBe(LONG_TEXT);
    } finally {
      await bob.dispose();
      await alice.dispose();
    }
  });

  it('createCompletion belongs to its starter: another user is refused, the owner follows it', async () => {
    const created = await graphqlHttp<Created>(
      app.url,
      CREATE_COMPLETION,
      { input: echoInput('mine') },
      bearer(ALICE),
    );
    const id = created.body.data!.createCompletion.completionId;
    const bob = GraphqlWsTestClient.connect(app.url, { authorization: `Bearer ${BOB}` });
    const alice = GraphqlWsTestClient.connect(app.url, { authorization: `Bearer ${ALICE}` });
    try {
      const refused = bob.run<Streamed>(COMPLETION_STREAM, { id });
      expect(await refused.ended).toBeUndefined();
      expect(refused.results[0]?.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const own = (await alice.collect<Streamed>(COMPLETION_STREAM, { id })).map(
        (r) => r.data!.completionStream,
      );
      expect(textOf(own)).toBe('mine');
    } finally {
      await bob.dispose();
      await alice.dispose();
    }
  });
});
