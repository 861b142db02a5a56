import { getIntrospectionQuery, Kind, OperationTypeNode, parse, validate, type GraphQLSchema } from 'graphql';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { startApp, type TestApp } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import {
  deepJsonText,
  hugeString,
  type Json,
  mutateJson,
  mutateTextTimes,
  Prng,
  randomJson,
  randomString,
  Tally,
} from './support/fuzz';
import { Pool } from 'undici';
import { CREATE_COMPLETION, RawGraphqlWs, type RawOutcome } from './support/graphql-client';
import { oneStep } from './support/workflows';

/**
 * Seeded fuzz of the GraphQL edge: at least 10,000 malformed inputs over HTTP and 10,000 over graphql-ws.
 * Every HTTP answer must be a GraphQL-shaped JSON error or result below 500; every graphql-ws operation must
 * end with next/error/complete, or its connection close with a documented 44xx code; nothing may hang, no
 * answer may carry INTERNAL_SERVER_ERROR, and /health/live must answer at the end. Replay a run with the
 * printed seed: FUZZ_SEED=<seed> npx jest test/fuzz-graphql.e2e-spec.ts
 */

const SEED = Prng.seedFrom('FUZZ_SEED');
const HTTP_INPUTS = 10_000;
const WS_OPERATIONS = 8_000;
const WS_PROTOCOL_CONNECTIONS = 1_200;
/** Messages sent over graphql-ws, operations and bad frames together, that a run reaches at least. */
const WS_MIN_INPUTS = 10_000;
/** Generous: an answer slower than this counts as a hang. */
const ANSWER_BOUND_MS = 15_000;
/** How long a valid subscription that streams nothing is left open before the client completes it. */
const LIVE_SUBSCRIPTION_WAIT_MS = 1_000;
const FUZZER = token({ sub: 'fuzzer', tier: 'unlimited' }, { ttlSeconds: 3_600 });

/** graphql-ws close codes for protocol violations (graphql-ws's CloseCode), all documented 44xx. */
const PROTOCOL_CLOSES = new Set([4400, 4401, 4403, 4406, 4408, 4409, 4429]);

const AGENT_WORKFLOW = {
  ...oneStep(
    'fuzz-workflow',
    { type: 'agent', agent: 'writer', model: 'simulated/echo', prompt: 'About {{topic}}', output: 'text' },
    'write',
  ),
  name: 'fuzz',
} as Json;

/** Valid operations with valid variables: the seeds that mutations start from. */
const CORPUS: Array<{ query: string; variables?: Json }> = [
  { query: '{ __typename }' },
  {
    query:
      '{ models { id aliases contextLength description fallbacks members ownedBy strategy virtual pricing { prompt completion } } }',
  },
  {
    query:
      '{ providers { id type configured healthy misconfigured circuits { model state failures errorRate requests openedAt retryAt } latency { model samples ttftMs } } }',
  },
  {
    query:
      'query C($id: ID!) { completion(completionId: $id) { completionId status content reasoning finishReason model provider truncated createdAt finishedAt error { code message retryable } toolCalls { id name arguments } usage { promptTokens completionTokens totalTokens reasoningTokens } } }',
    variables: { id: 'chatcmpl-unknown' },
  },
  {
    query: CREATE_COMPLETION,
    variables: { input: { model: 'simulated/echo', messages: [{ role: 'user', content: 'fuzz' }] } },
  },
  {
    query: CREATE_COMPLETION,
    variables: {
      input: {
        model: 'simulated/echo',
        models: ['simulated/lorem'],
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: [{ type: 'text', text: 'hello' }] },
          {
            role: 'assistant',
            content: null,
            toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
          },
          { role: 'tool', toolCallId: 'c1', content: 'result' },
        ],
        temperature: 0.5,
        topP: 0.9,
        maxTokens: 16,
        seed: 7,
        stop: ['\n'],
        tools: [
          { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } },
        ],
        toolChoice: 'auto',
        provider: { order: ['simulated'] },
        reasoning: { effort: 'low' },
      },
    },
  },
  {
    query: 'mutation X($id: ID!) { cancelCompletion(completionId: $id) }',
    variables: { id: 'chatcmpl-unknown' },
  },
  { query: '{ workflows { id name description source createdAt definition analysis } }' },
  {
    query: 'query W($id: ID!) { workflow(id: $id) { id name definition } }',
    variables: { id: 'fuzz-workflow' },
  },
  {
    query:
      'query R($id: ID!) { workflowRun(runId: $id) { runId status steps input output marking activeTransitions agents { agent status } error { code message } usage { totalTokens } } }',
    variables: { id: 'run-unknown' },
  },
  {
    query: 'mutation D($definition: JSON!) { createWorkflow(definition: $definition) { id name analysis } }',
    variables: { definition: AGENT_WORKFLOW },
  },
  {
    query:
      'mutation S($id: ID!, $input: JSON) { startWorkflow(workflowId: $id, input: $input) { runId status } }',
    variables: { id: 'fuzz-workflow-unknown', input: { topic: 'x' } },
  },
  {
    query: 'mutation K($id: ID!) { cancelWorkflowRun(runId: $id) { runId status } }',
    variables: { id: 'run-unknown' },
  },
  { query: getIntrospectionQuery() },
];

/** Subscriptions that end at once (unknown ids): only over graphql-ws. */
const WS_CORPUS: Array<{ query: string; variables?: Json }> = [
  ...CORPUS,
  {
    query:
      'subscription S($id: ID!, $after: Int) { completionStream(completionId: $id, afterSequence: $after) { eventType content sequence metadata usage { totalTokens } } }',
    variables: { id: 'chatcmpl-unknown', after: 0 },
  },
  {
    query: 'subscription W($id: ID!) { workflowStream(workflowId: $id) { eventType sequence data } }',
    variables: { id: 'run-unknown' },
  },
  {
    query: 'subscription A($id: ID!) { agentExecutionStream(executionId: $id) { eventType content } }',
    variables: { id: 'exec-unknown' },
  },
];

interface Failure {
  kind: string;
  input: string;
  answer: string;
}

const clip = (text: string, max = 300): string =>
  text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;

/** A random query text: mutated from the corpus, random characters, or a known nasty shape. */
function fuzzQuery(rng: Prng, corpus: ReadonlyArray<{ query: string }>): string {
  return rng.weighted<() => string>([
    [6, () => mutateTextTimes(rng, rng.pick(corpus).query, 4)],
    [2, () => randomString(rng, { maxLength: 200, hugeChance: 0.02, hugeLength: 40_000 })],
    [1, () => rng.pick(corpus).query],
    [
      1,
      () =>
        rng.pick([
          `{ ${'models { '.repeat(rng.between(2, 40))}id${' }'.repeat(20)} }`,
          `query { ${'__typename '.repeat(rng.between(1, 3_000))} }`,
          `{ completion(completionId: ${deepJsonText(rng.between(5, 3_000))}) { status } }`,
          `{ models { ...F } } fragment F on Model { ...F }`,
          `${'query Q { __typename } '.repeat(rng.between(1, 12))}`,
          `{ models @include(if: true) @skip(if: false) @unknown ${'@d '.repeat(rng.between(1, 500))}{ id } }`,
          `"""${hugeString(rng, 20_000)}""" { __typename }`,
          `{ __schema { types { ${'fields { name } '.repeat(rng.between(1, 200))} } } }`,
          `# ${randomString(rng, { maxLength: 100 })}\n{ __typename }`,
          `{ a: __typename ${Array.from({ length: rng.between(1, 100) }, (_, i) => `a${i}: __typename`).join(' ')} }`,
        ]),
    ],
  ])();
}

/** Variables for a document: its valid ones mutated, random JSON, or deep/huge values. */
function fuzzVariables(rng: Prng, variables: Json | undefined): Json | undefined {
  return rng.weighted<() => Json | undefined>([
    [5, () => (variables === undefined ? randomJson(rng) : mutateJson(rng, variables))],
    [1, () => (variables === undefined ? undefined : mutateJson(rng, mutateJson(rng, variables)))],
    [1, () => variables],
    [1, () => randomJson(rng, { maxDepth: 3 })],
  ])();
}

interface HttpInput {
  kind: string;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function httpInput(rng: Prng): HttpInput {
  const auth = bearer(FUZZER);
  const json = { 'content-type': 'application/json', ...auth };
  const post = (kind: string, body: string, headers: Record<string, string> = json): HttpInput => ({
    kind,
    method: 'POST',
    path: '/graphql',
    headers,
    body,
  });
  const seed = rng.pick(CORPUS);
  return rng.weighted<() => HttpInput>([
    [
      15,
      () =>
        post(
          'malformed JSON body',
          mutateTextTimes(rng, JSON.stringify({ query: seed.query, variables: seed.variables }), 3),
        ),
    ],
    [
      4,
      () => post('random body', randomString(rng, { maxLength: 300, hugeChance: 0.02, hugeLength: 200_000 })),
    ],
    [
      10,
      () => {
        const base: Record<string, Json | undefined> = { query: seed.query, variables: seed.variables };
        const field = rng.pick(['query', 'variables', 'operationName', 'extensions', 'whole']);
        if (field === 'whole') return post('wrong body type', JSON.stringify(randomJson(rng)));
        base[field] = rng.chance(0.3) ? null : randomJson(rng, { maxDepth: 2 });
        return post(`wrong type of ${field}`, JSON.stringify(base));
      },
    ],
    [10, () => post('random query', JSON.stringify({ query: randomString(rng, { maxLength: 120 }) }))],
    [
      25,
      () =>
        post(
          'mutated query',
          JSON.stringify({
            query: fuzzQuery(rng, CORPUS),
            variables: seed.variables,
            ...(rng.chance(0.2) ? { operationName: randomString(rng, { maxLength: 10 }) } : {}),
          }),
        ),
    ],
    [
      20,
      () => {
        const target = rng.chance(0.6) ? rng.pick(CORPUS.filter((c) => c.variables !== undefined)) : seed;
        return post(
          'mutated variables',
          JSON.stringify({ query: target.query, variables: fuzzVariables(rng, target.variables) }),
        );
      },
    ],
    [
      5,
      () => {
        const params = new URLSearchParams();
        params.set('query', rng.chance(0.7) ? fuzzQuery(rng, CORPUS) : randomString(rng, { maxLength: 50 }));
        if (rng.chance(0.5))
          params.set(
            'variables',
            rng.chance(0.5) ? JSON.stringify(fuzzVariables(rng, seed.variables)) : randomString(rng),
          );
        if (rng.chance(0.2)) params.set('extensions', randomString(rng));
        if (rng.chance(0.2)) params.set('operationName', randomString(rng, { maxLength: 10 }));
        const preflight: Record<string, string> = rng.chance(0.8)
          ? { 'apollo-require-preflight': 'true' }
          : {};
        return {
          kind: 'GET',
          method: 'GET',
          path: `/graphql?${params.toString().slice(0, 12_000)}`,
          headers: { ...auth, ...preflight },
        };
      },
    ],
    [
      5,
      () =>
        post('other content types', JSON.stringify({ query: seed.query }), {
          ...auth,
          ...rng.pick<Record<string, string>>([
            { 'content-type': 'text/plain' },
            { 'content-type': 'application/graphql' },
            { 'content-type': 'application/x-www-form-urlencoded' },
            { 'content-type': 'multipart/form-data; boundary=x' },
            { 'content-type': 'application/json; charset=latin1' },
            {
              'content-type':
                randomString(rng, { maxLength: 30, hugeChance: 0 }).replace(/[^\x20-\x7e]/g, '') || 'x/y',
            },
            {},
          ]),
        }),
    ],
    [
      5,
      () =>
        post('credentials', JSON.stringify({ query: seed.query, variables: seed.variables }), {
          'content-type': 'application/json',
          ...rng.pick<Record<string, string>>([
            {},
            { authorization: 'Bearer' },
            { authorization: `Bearer ${mutateTextTimes(rng, FUZZER, 2).replace(/[^\x21-\x7e]/g, 'x')}` },
            { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
            bearer(token({ sub: 'fuzzer' }, { ttlSeconds: -120 })),
            { authorization: `bearer ${'x'.repeat(rng.between(1, 12_000))}` },
          ]),
        }),
    ],
  ])();
}

/** Whether a parsed JSON body is what a GraphQL endpoint answers: errors with messages and codes, or data. */
function graphqlShaped(body: unknown): { ok: true; label: string } | { ok: false; why: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, why: 'not an object' };
  const { errors, data } = body as { errors?: unknown; data?: unknown };
  if (errors === undefined) {
    return data !== undefined && (data === null || typeof data === 'object')
      ? { ok: true, label: 'data' }
      : { ok: false, why: 'neither data nor errors' };
  }
  if (!Array.isArray(errors) || errors.length === 0)
    return { ok: false, why: 'errors is not a non-empty array' };
  for (const error of errors as Array<{ message?: unknown; extensions?: { code?: unknown } }>) {
    if (typeof error?.message !== 'string') return { ok: false, why: 'an error without a message' };
    if (typeof error.extensions?.code !== 'string')
      return { ok: false, why: 'an error without extensions.code' };
    if (error.extensions.code === 'INTERNAL_SERVER_ERROR') return { ok: false, why: 'INTERNAL_SERVER_ERROR' };
  }
  return { ok: true, label: String((errors as Array<{ extensions: { code: string } }>)[0]!.extensions.code) };
}

async function pool<T>(items: number, concurrency: number, run: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items) await run(next++);
    }),
  );
}

describe(`GraphQL fuzz (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, () => {
  let app: TestApp;
  let schema: GraphQLSchema;

  // Stack traces as long as in production (Node's default, 10 frames): jest raises the limit to 100, which
  // makes each of the thousands of GraphQLErrors (each captures a stack) several times dearer. Restored after.
  const stackTraceLimit = Error.stackTraceLimit;
  beforeAll(async () => {
    Error.stackTraceLimit = 10;
    console.log(`GraphQL fuzz seed: ${SEED} (replay: FUZZ_SEED=${SEED})`);
    app = await startApp(jwtAuth());
    schema = app.app.get(GraphQLSchemaHost).schema;
    // The workflow startWorkflow's corpus entry names, so that some mutations start real runs.
    const created = await fetch(`${app.url}/v1/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(FUZZER) },
      body: JSON.stringify(AGENT_WORKFLOW),
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    Error.stackTraceLimit = stackTraceLimit;
    await app.close();
  }, 30_000);

  it(`over HTTP: ${HTTP_INPUTS} malformed inputs, every answer GraphQL-shaped and below 500`, async () => {
    const rng = new Prng(SEED);
    const inputs = Array.from({ length: HTTP_INPUTS }, () => httpInput(rng));
    const tally = new Tally();
    const failures: Failure[] = [];
    const fail = (kind: string, input: HttpInput, answer: string) => {
      tally.add(`FAILED ${kind}`);
      if (failures.filter((f) => f.kind === `${kind} [${input.kind}]`).length < 3)
        failures.push({
          kind: `${kind} [${input.kind}]`,
          input: clip(`${input.method} ${input.path} ${JSON.stringify(input.headers)} ${input.body ?? ''}`),
          answer: clip(answer),
        });
    };
    // undici's own client (lighter than fetch): the client shares this process with the app.
    const http = new Pool(app.url, { connections: 16 });
    const started = Date.now();
    const spent = new Tally();
    await pool(inputs.length, 16, async (i) => {
      const input = inputs[i]!;
      const began = Date.now();
      await send(input);
      spent.add(input.kind, Date.now() - began);
    });
    async function send(input: HttpInput): Promise<void> {
      let res: { status: number };
      let text: string;
      try {
        const answer = await http.request({
          path: input.path,
          method: input.method,
          headers: input.headers,
          ...(input.body === undefined ? {} : { body: input.body }),
          headersTimeout: ANSWER_BOUND_MS,
          bodyTimeout: ANSWER_BOUND_MS,
        });
        res = { status: answer.statusCode };
        text = await answer.body.text();
      } catch (err) {
        fail('no answer', input, String(err));
        return;
      }
      if (res.status >= 500) return fail(`HTTP ${res.status}`, input, text);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return fail('answer is not JSON', input, `${res.status} ${text}`);
      }
      const shape = graphqlShaped(body);
      if (!shape.ok) return fail(`not GraphQL-shaped: ${shape.why}`, input, `${res.status} ${text}`);
      tally.add(`HTTP ${res.status} ${shape.label}`);
    }
    await http.close();
    const live = await fetch(`${app.url}/health/live`);
    console.log(
      `GraphQL HTTP fuzz (seed ${SEED}): ${tally.total} inputs in ${Date.now() - started} ms, by outcome:\n${tally.toString()}` +
        `\nms spent by kind of input (16 at once):\n${spent.toString()}` +
        (failures.length
          ? `\nfailures:\n${failures.map((f) => `- ${f.kind}\n  in:  ${f.input}\n  out: ${f.answer}`).join('\n')}`
          : ''),
    );
    expect(tally.total).toBe(HTTP_INPUTS);
    expect(failures).toEqual([]);
    expect(live.status).toBe(200);
  }, 120_000);

  it(`over graphql-ws: ${WS_OPERATIONS} fuzzed operations and ${WS_PROTOCOL_CONNECTIONS} connections of bad frames`, async () => {
    const tally = new Tally();
    const failures: Failure[] = [];
    const fail = (kind: string, input: string, answer: string) => {
      tally.add(`FAILED ${kind}`);
      if (failures.filter((f) => f.kind === kind).length < 3)
        failures.push({ kind, input: clip(input), answer: clip(answer) });
    };
    const started = Date.now();
    let inputs = 0;

    // 1. Well-formed subscribe messages with fuzzed documents and variables, pipelined on a few connections.
    const isLiveSubscription = (query: string): boolean => {
      try {
        const document = parse(query);
        const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
        return (
          validate(schema, document).length === 0 &&
          operations.length === 1 &&
          operations[0]!.operation === OperationTypeNode.SUBSCRIPTION
        );
      } catch {
        return false;
      }
    };
    const CONNECTIONS = 4;
    const PIPELINE = 25;
    const perConnection = WS_OPERATIONS / CONNECTIONS;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, c) => {
        // One generator per connection: the same seed gives the same operations, however the answers interleave.
        const rng = new Prng((SEED ^ 0x5eed) + c);
        let ws = await RawGraphqlWs.open(app.url, { authorization: `Bearer ${FUZZER}` });
        let sent = 0;
        while (sent < perConnection) {
          const batch: Array<{ id: string; payload: Record<string, Json | undefined> }> = [];
          for (let k = 0; k < PIPELINE && sent < perConnection; k++, sent++) {
            const seed = rng.pick(WS_CORPUS);
            const payload: Record<string, Json | undefined> = {
              query: rng.chance(0.7) ? fuzzQuery(rng, WS_CORPUS) : seed.query,
            };
            const variables = rng.chance(0.8) ? fuzzVariables(rng, seed.variables) : seed.variables;
            if (variables !== undefined && typeof variables === 'object' && !Array.isArray(variables))
              payload.variables = variables;
            if (rng.chance(0.1))
              payload.operationName = rng.chance(0.5) ? null : randomString(rng, { maxLength: 10 });
            if (rng.chance(0.05))
              payload.extensions = {
                [randomString(rng, { maxLength: 5 })]: randomJson(rng, { maxDepth: 2 }),
              };
            const id = `op-${c}-${sent}`;
            ws.subscribe(id, payload);
            inputs += 1;
            batch.push({ id, payload });
          }
          for (const { id, payload } of batch) {
            let outcome: RawOutcome;
            // A valid subscription may rightly stay open (its stream exists): it gets a short wait, then the
            // client completes it. Anything else must end within the bound.
            const live =
              typeof payload.query === 'string' &&
              payload.query.includes('subscription') &&
              isLiveSubscription(payload.query);
            try {
              outcome = await ws.outcome(id, live ? LIVE_SUBSCRIPTION_WAIT_MS : ANSWER_BOUND_MS);
            } catch {
              if (live) {
                ws.send({ id, type: 'complete' });
                tally.add('ws operation: a valid live subscription (completed by the client)');
              } else fail('ws operation never ended', JSON.stringify(payload), '(nothing)');
              continue;
            }
            if (outcome.kind === 'closed') {
              fail(
                `ws operation closed the connection (${outcome.code})`,
                JSON.stringify(payload),
                outcome.reason,
              );
              break;
            }
            if (outcome.kind === 'error') {
              const codes = outcome.errors.map((e) => e.extensions?.code);
              if (codes.some((code) => typeof code !== 'string' || code === 'INTERNAL_SERVER_ERROR')) {
                fail(
                  'ws error without a proper code',
                  JSON.stringify(payload),
                  JSON.stringify(outcome.errors),
                );
              } else tally.add(`ws error ${String(codes[0])}`);
              continue;
            }
            const errors = outcome.nexts.flatMap(
              (n) => (n.payload as { errors?: Array<{ extensions?: { code?: string } }> }).errors ?? [],
            );
            if (
              errors.some(
                (e) =>
                  typeof e.extensions?.code !== 'string' || e.extensions.code === 'INTERNAL_SERVER_ERROR',
              )
            ) {
              fail(
                'ws result error without a proper code',
                JSON.stringify(payload),
                JSON.stringify(outcome.nexts),
              );
            } else tally.add(`ws next+complete ${errors[0]?.extensions?.code ?? 'data'}`);
          }
          if (ws.close) {
            ws = await RawGraphqlWs.open(app.url, { authorization: `Bearer ${FUZZER}` });
          }
        }
        await ws.dispose();
      }),
    );

    const operationsMs = Date.now() - started;
    // 2. Protocol violations and odd sequences, each on a fresh connection: the connection must stay usable
    //    (a ping gets its pong) or close with a documented 44xx code.
    const validSubscribe = (id: string) => ({ id, type: 'subscribe', payload: { query: '{ __typename }' } });
    const frames = (r: Prng): Array<string | Buffer | Json> =>
      r.weighted<() => Array<string | Buffer | Json>>([
        [3, () => [randomJson(r, { maxDepth: 3 })]],
        [3, () => [mutateTextTimes(r, JSON.stringify(validSubscribe('m')), 3)]],
        [
          2,
          () => [
            {
              type: r.pick([
                'subscribe',
                'next',
                'error',
                'complete',
                'ping',
                'pong',
                'connection_init',
                'connection_ack',
                'nope',
                '',
              ]),
              ...(r.chance(0.7)
                ? { id: r.chance(0.8) ? randomString(r, { maxLength: 8 }) : randomJson(r) }
                : {}),
              ...(r.chance(0.7) ? { payload: randomJson(r, { maxDepth: 3 }) } : {}),
            },
          ],
        ],
        [
          2,
          () => [
            {
              id: 's',
              type: 'subscribe',
              payload: {
                ...validSubscribe('s').payload,
                [r.pick(['query', 'variables', 'operationName', 'extensions'])]: randomJson(r, {
                  maxDepth: 2,
                }),
              },
            },
          ],
        ],
        [1, () => [validSubscribe('early')]], // before connection_init: 4401
        [1, () => [{ type: 'connection_init' }]], // twice: 4429
        [
          1,
          () => [
            {
              id: 'live',
              type: 'subscribe',
              payload: { query: 'subscription { systemEvents { eventType } }' },
            },
            { id: 'live', type: 'subscribe', payload: { query: '{ __typename }' } },
          ],
        ], // 4409
        [1, () => [Buffer.from(randomString(r))]], // binary frame: 4400
        [
          1,
          () => [
            { type: 'ping', payload: randomJson(r, { maxDepth: 2 }) },
            { type: 'pong', payload: randomJson(r) },
          ],
        ],
        [1, () => [{ id: randomString(r, { maxLength: 6 }), type: 'complete' }]],
        [1, () => [JSON.stringify(validSubscribe('d')).repeat(r.between(2, 5))]],
        [
          1,
          () => [
            `{"type":"subscribe","id":"deep","payload":{"query":"{ __typename }","variables":${deepJsonText(r.between(100, 5_000), r.pick(['array', 'object']))}}}`,
          ],
        ],
      ])();
    const initOf = (r: Prng): Record<string, unknown> | null =>
      r.weighted<() => Record<string, unknown> | null>([
        [6, () => ({ authorization: `Bearer ${FUZZER}` })],
        [1, () => null],
        [1, () => ({ authorization: `Bearer ${mutateTextTimes(r, FUZZER)}` })],
        [1, () => ({})],
        [1, () => ({ token: randomString(r) })],
      ])();
    const badFrames = async (i: number): Promise<void> => {
      const r = new Prng((SEED + i * 7919) >>> 0);
      const init = initOf(r);
      let ws: RawGraphqlWs;
      try {
        ws = await RawGraphqlWs.open(app.url, init);
      } catch (err) {
        fail('ws connect failed', JSON.stringify(init), String(err));
        return;
      }
      const sequence = frames(r);
      const shown = sequence
        .map((f) =>
          Buffer.isBuffer(f) ? `<binary ${f.length}>` : typeof f === 'string' ? f : JSON.stringify(f),
        )
        .join(' | ');
      if (init !== null) inputs += 1;
      for (const frame of sequence) {
        if (!ws.isOpen) break;
        if (Buffer.isBuffer(frame)) ws.socket.send(frame, { binary: true });
        else ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
        inputs += 1;
      }
      try {
        const pongs = () => ws.messages.filter((m) => m.type === 'pong').length;
        const before = pongs();
        ws.send({ type: 'ping' });
        await ws.until(
          () => pongs() > before || ws.close !== undefined,
          ANSWER_BOUND_MS,
          'a pong or a close',
        );
      } catch {
        fail(
          'ws connection neither answered nor closed',
          `init ${JSON.stringify(init)}: ${shown}`,
          JSON.stringify(ws.messages.slice(-3)),
        );
        ws.socket.terminate();
        return;
      }
      if (ws.close) {
        if (PROTOCOL_CLOSES.has(ws.close.code)) tally.add(`ws closed ${ws.close.code}`);
        else
          fail(`ws closed with ${ws.close.code}`, `init ${JSON.stringify(init)}: ${shown}`, ws.close.reason);
        return;
      }
      const unexpected = ws.messages
        .filter((m) => m.type === 'error')
        .flatMap((m) => (m.payload as Array<{ extensions?: { code?: string } }>) ?? []);
      if (unexpected.some((e) => e.extensions?.code === 'INTERNAL_SERVER_ERROR'))
        fail('ws INTERNAL_SERVER_ERROR', shown, JSON.stringify(unexpected));
      else tally.add('ws connection still usable (pong)');
      ws.socket.close(1000);
    };
    await pool(WS_PROTOCOL_CONNECTIONS, 8, badFrames);
    // A connection the server closes early takes fewer frames, so how many a seed sends varies: more
    // connections of the same seed make up the rest, so every run sends at least WS_MIN_INPUTS (bounded).
    for (let i = WS_PROTOCOL_CONNECTIONS; inputs < WS_MIN_INPUTS && i < 2 * WS_PROTOCOL_CONNECTIONS; i++)
      await badFrames(i);

    const live = await fetch(`${app.url}/health/live`);
    console.log(
      `GraphQL graphql-ws fuzz (seed ${SEED}): ${inputs} inputs (messages sent) in ${Date.now() - started} ms (operations ${operationsMs} ms); outcomes:\n${tally.toString()}` +
        (failures.length
          ? `\nfailures:\n${failures.map((f) => `- ${f.kind}\n  in:  ${f.input}\n  out: ${f.answer}`).join('\n')}`
          : ''),
    );
    expect(inputs).toBeGreaterThanOrEqual(WS_MIN_INPUTS);
    expect(failures).toEqual([]);
    expect(live.status).toBe(200);
  }, 120_000);
});
