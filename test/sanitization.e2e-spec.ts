import { openAiWire } from './fakes/openai.fake';
import { VendorFake } from './fakes/vendor-fake';
import { logCollector, startApp, startAppWith, type TestApp, withModels } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import {
  COMPLETION_STREAM,
  CREATE_COMPLETION,
  echoInput,
  GraphqlWsTestClient,
  type StreamEventResult,
} from './support/graphql-client';
import { contentOf, deltasOf, postJson, readSse, type SseResult } from './support/sse-client';
import { TEST_KEY, TEST_TIMEOUTS } from './support/vendors';
import { waitFor } from './support/wait';
import { createWorkflow, getRun, oneStep, startRun } from './support/workflows';
import { rawText, WsTestClient } from './support/ws-client';

/**
 * Streaming PII sanitization (docs/sanitization.md): what leaves the service on every protocol is masked, an
 * entity split across chunks included; near misses pass; routes and token claims turn it on or off; dead
 * letters and logs are masked too.
 */

/** Each raw value, with the label it must leave as. */
const PII = {
  email: ['jane.doe@example.com', '[EMAIL]'],
  phone: ['415-555-0132', '[PHONE]'],
  card: ['4111 1111 1111 1111', '[CARD]'],
  ssn: ['123-45-6789', '[SSN]'],
  iban: ['DE89 3704 0044 0532 0130 00', '[IBAN]'],
  ipv4: ['192.168.10.20', '[IPV4]'],
  key: ['sk-proj-a1B2c3D4e5F6g7H8i9J0kLmN', '[SECRET]'],
  jwt: [
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    '[SECRET]',
  ],
} as const;

type Values = Record<keyof typeof PII, string>;
const sentence = (v: Values) =>
  `Mail ${v.email} or call ${v.phone} today. Card ${v.card}, SSN ${v.ssn}, IBAN ${v.iban}, ` +
  `host ${v.ipv4}, key ${v.key} and token ${v.jwt} end`;
const pick = (i: 0 | 1) => Object.fromEntries(Object.entries(PII).map(([k, pair]) => [k, pair[i]])) as Values;

const PROMPT = sentence(pick(0));
const MASKED = sentence(pick(1));
const RAW_VALUES = Object.values(PII).map(([raw]) => raw);
const LABELS = [...new Set(Object.values(PII).map(([, label]) => label))];

/** Look-alikes that are not PII: they must come back exactly as sent. */
const NEAR_MISSES = 'Upgrade to version v1.2.3.4 released 2024-01-15 for order ORD-123-45-6789 now';

const echo = (text: string, model = 'simulated/echo') => ({
  model,
  messages: [{ role: 'user' as const, content: text }],
});

/** Fails naming the raw value if any reached the client; and every label did. */
function expectMasked(received: string): void {
  for (const raw of RAW_VALUES) expect(received).not.toContain(raw);
  // Fragments too: the local part of the email, the key's and token's distinctive middles.
  for (const fragment of ['jane.doe', 'a1B2c3D4', 'eyJzdWIiOiIx', '0532 0130'])
    expect(received).not.toContain(fragment);
  for (const label of LABELS) expect(received).toContain(label);
}

function sseStream(app: TestApp, text: string, headers: Record<string, string> = {}): Promise<SseResult> {
  return postJson(`${app.url}/v1/chat/completions`, { ...echo(text), stream: true }, { headers }).then(
    (res) => {
      expect(res.status).toBe(200);
      return readSse(res);
    },
  );
}

/** A WebSocket completion: its reassembled content and every byte the socket received. */
async function wsCompletion(
  app: TestApp,
  text: string,
  headers: Record<string, string> = {},
): Promise<{ content: string; raw: string }> {
  const ws = await WsTestClient.connect(app.url, { headers });
  let raw = '';
  ws.socket.on('message', (data) => (raw += rawText(data)));
  try {
    ws.send({ type: 'completion', id: 'pii', ...echo(text) });
    expect(await ws.end('pii')).toMatchObject({ type: 'completed' });
    return { content: ws.contentOf('pii'), raw };
  } finally {
    await ws.close();
  }
}

/** POST /graphql, answering the raw body too. */
async function graphqlRaw<T>(
  app: TestApp,
  query: string,
  variables: Record<string, unknown>,
): Promise<{ raw: string; data: T }> {
  const res = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const raw = await res.text();
  const body = JSON.parse(raw) as { data: T; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return { raw, data: body.data };
}

/** Stream masking is off by default (dead letters and logs are masked either way). */
const MASK_STREAMS = { sanitization: { streams: true } };

describe('PII sanitization of what leaves the service', () => {
  describe('on every protocol (default config: on)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp(MASK_STREAMS);
    });
    afterAll(() => t.close());

    it('REST, non-streaming', async () => {
      const res = await postJson(`${t.url}/v1/chat/completions`, echo(PROMPT));
      expect(res.status).toBe(200);
      const raw = await res.text();
      expectMasked(raw);
      const body = JSON.parse(raw) as { choices: Array<{ message: { content: string } }> };
      expect(body.choices[0]?.message.content).toBe(MASKED);
    });

    it('SSE (POST), the deltas reassembled', async () => {
      const result = await sseStream(t, PROMPT);
      expectMasked(result.raw);
      expect(contentOf(result)).toBe(MASKED);
      expect(result.events.at(-1)?.data).toBe('[DONE]');
    });

    it('SSE (the EventSource GET form)', async () => {
      const query = new URLSearchParams({
        model: 'simulated/echo',
        messages: JSON.stringify([{ role: 'user', content: PROMPT }]),
      });
      const res = await fetch(`${t.url}/v1/chat/completions/stream?${query.toString()}`);
      expect(res.status).toBe(200);
      const result = await readSse(res);
      expectMasked(result.raw);
      expect(contentOf(result)).toBe(MASKED);
    });

    it('WebSocket', async () => {
      const { content, raw } = await wsCompletion(t, PROMPT);
      expectMasked(raw);
      expect(content).toBe(MASKED);
    });

    it('GraphQL: createCompletion, completionStream reassembled, and the completion query', async () => {
      const client = GraphqlWsTestClient.connect(t.url);
      try {
        const [created] = await client.collect<{ createCompletion: { completionId: string } }>(
          CREATE_COMPLETION,
          { input: echoInput(PROMPT) },
        );
        const id = created!.data!.createCompletion.completionId;
        const results = await client.collect<{ completionStream: StreamEventResult }>(COMPLETION_STREAM, {
          id,
        });
        expectMasked(JSON.stringify(results));
        const text = results
          .map((r) => r.data!.completionStream)
          .filter((e) => e.eventType === 'CONTENT_CHUNK')
          .map((e) => e.content)
          .join('');
        expect(text).toBe(MASKED);

        const query = 'query C($id: ID!) { completion(completionId: $id) { status content } }';
        const read = await graphqlRaw<{ completion: { status: string; content: string } }>(t, query, { id });
        expectMasked(read.raw);
        expect(read.data.completion).toEqual({ status: 'COMPLETED', content: MASKED });
      } finally {
        await client.dispose();
      }
    });

    it("a workflow agent: its progress, its completion, the run's output and state", async () => {
      const id = `pii-agent-${Date.now()}`;
      await createWorkflow(
        t.url,
        oneStep(id, {
          type: 'agent',
          agent: 'echoer',
          model: 'simulated/echo',
          prompt: `Topic {{topic}}. ${PROMPT}`,
          output: 'text',
        }),
      );
      // The input holds PII too: the run works on it, but its events and state carry it masked.
      const run = await startRun(t.url, id, { topic: 'contacts', requester: PII.email[0] });
      expect(JSON.stringify(run)).toContain('"requester":"[EMAIL]"');
      expect(JSON.stringify(run)).not.toContain(PII.email[0]);
      const res = await fetch(`${t.url}/v1/workflow-runs/${run.runId}/events`);
      const stream = await readSse(res);
      expectMasked(stream.raw);
      const events = stream.events.map(
        (e) => JSON.parse(e.data) as { type: string; data: Record<string, unknown> },
      );
      expect(events.at(-1)?.type).toBe('WORKFLOW_COMPLETED');
      const expected = `Topic contacts. ${MASKED}`;
      const progress = events
        .filter((e) => e.type === 'AGENT_PROGRESS')
        .map((e) => e.data.content as string)
        .join('');
      expect(progress).toBe(expected);
      // AGENT_COMPLETED names the field the answer went to; the token carries the answer itself.
      expect(events.find((e) => e.type === 'AGENT_COMPLETED')?.data.output).toBe('text');
      const moved = events.find((e) => e.type === 'TOKEN_TRANSITIONED');
      expect(moved?.data.token_data).toMatchObject({ text: expected });
      expect(events.at(-1)?.data.output).toMatchObject({ text: expected });

      const state = await fetch(`${t.url}/v1/workflow-runs/${run.runId}`);
      const stateText = await state.text();
      expectMasked(stateText);
      expect((await getRun(t.url, run.runId)).output).toMatchObject({ text: expected });
    }, 20_000);

    it('passes near misses through unchanged (a version, a date, an order id)', async () => {
      const rest = (await (await postJson(`${t.url}/v1/chat/completions`, echo(NEAR_MISSES))).json()) as {
        choices: Array<{ message: { content: string } }>;
      };
      expect(rest.choices[0]?.message.content).toBe(NEAR_MISSES);
      expect(contentOf(await sseStream(t, NEAR_MISSES))).toBe(NEAR_MISSES);
      expect((await wsCompletion(t, NEAR_MISSES)).content).toBe(NEAR_MISSES);
    });
  });

  describe('an entity split across chunks', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp(MASK_STREAMS, { providers: { simulated: { tokens_per_second: 50 } } });
    });
    afterAll(() => t.close());

    it('is masked whole: no delta carries part of it, and the joined text has the label', async () => {
      const text = 'Reach me at jane.doe@example.com tomorrow please';
      const result = await sseStream(t, text);
      const contents = deltasOf(result)
        .map((d) => d.content)
        .filter((c): c is string => c !== undefined && c !== '');
      // The echo streams word by word: the answer did come in many deltas.
      expect(contents.length).toBeGreaterThan(5);
      for (const delta of contents) {
        for (const part of ['jane', 'doe', '@', 'example', '.com']) expect(delta).not.toContain(part);
      }
      expect(contents.join('')).toBe('Reach me at [EMAIL] tomorrow please');
      expect(contents.some((c) => c.includes('[EMAIL]'))).toBe(true);
    }, 20_000);
  });

  describe('per route', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp({ sanitization: { streams: true, routes: { ws: false } } });
    });
    afterAll(() => t.close());

    it('a route turned off (ws) passes raw text; the others still mask (sse)', async () => {
      expect((await wsCompletion(t, PROMPT)).content).toBe(PROMPT);
      const sse = await sseStream(t, PROMPT);
      expectMasked(sse.raw);
      expect(contentOf(sse)).toBe(MASKED);
    });
  });

  describe('per user (the pii_sanitization claim)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp(jwtAuth(), { sanitization: { streams: true, routes: { ws: false } } });
    });
    afterAll(() => t.close());

    it('false gets raw output; true gets masked output even on a route turned off; none follows the route', async () => {
      const raw = bearer(token({ sub: 'raw-reader', pii_sanitization: false }));
      expect(contentOf(await sseStream(t, PROMPT, raw))).toBe(PROMPT);
      expect((await wsCompletion(t, PROMPT, raw)).content).toBe(PROMPT);

      const masked = bearer(token({ sub: 'careful', pii_sanitization: true }));
      const ws = await wsCompletion(t, PROMPT, masked);
      expectMasked(ws.raw);
      expect(ws.content).toBe(MASKED);
      expect(contentOf(await sseStream(t, PROMPT, masked))).toBe(MASKED);

      const plain = bearer(token({ sub: 'plain' }));
      expect((await wsCompletion(t, PROMPT, plain)).content).toBe(PROMPT);
      expect(contentOf(await sseStream(t, PROMPT, plain))).toBe(MASKED);
    });
  });

  describe('dead letters and logs', () => {
    const email = PII.email[0];
    let fake: VendorFake;
    let t: TestApp;
    const logs = logCollector();

    beforeAll(async () => {
      fake = await new VendorFake(openAiWire).start();
      t = await startAppWith(
        { logSink: logs.sink },
        { server: { log_level: 'debug' } },
        {
          providers: {
            up: { type: 'openai', base_url: `${fake.url}/v1`, api_key: TEST_KEY, ...TEST_TIMEOUTS },
          },
          streaming: { error_handling: { max_retries: 0, circuit_breaker_min_requests: 1000 } },
        },
        withModels([], { id: 'up/model', provider: 'up', upstream: 'gpt-up' }),
      );
    });
    afterAll(async () => {
      await t.close();
      await fake.close();
    });

    /** An upstream that fails, quoting the prompt back in its error message (as vendors' validators do). */
    async function failWithPromptQuoted(): Promise<void> {
      fake.fail('server', { message: `The server could not process the message from ${email}` });
      const res = await postJson(`${t.url}/v1/chat/completions`, {
        model: 'up/model',
        messages: [{ role: 'user', content: PROMPT }],
      });
      expect(res.status).toBe(502);
      await res.text();
      expect((fake.lastRequest?.body as { messages: Array<{ content: string }> }).messages[0]?.content).toBe(
        PROMPT,
      );
    }

    it('stores the letter with the prompt and the error message masked', async () => {
      await failWithPromptQuoted();
      let list: { data: Array<{ id: string }>; total: number } = { data: [], total: 0 };
      await waitFor('the dead letter', async () => {
        list = (await (await fetch(`${t.url}/admin/dead-letters`)).json()) as typeof list;
        return list.total > 0;
      });
      const one = await fetch(`${t.url}/admin/dead-letters/${list.data[0]!.id}`);
      expect(one.status).toBe(200);
      const raw = await one.text();
      expect(raw).not.toContain(email);
      for (const value of RAW_VALUES) expect(raw).not.toContain(value);
      const letter = (
        JSON.parse(raw) as {
          data: {
            request: { messages: Array<{ content: string }> };
            errorMessage: string;
            attempts: Array<{ message: string }>;
          };
        }
      ).data;
      expect(letter.request.messages[0]?.content).toBe(MASKED);
      expect(letter.errorMessage).toContain('[EMAIL]');
      expect(letter.attempts[0]?.message).toContain('[EMAIL]');
    });

    it('logs no raw email, even where a logged error quotes user content', async () => {
      logs.lines.length = 0;
      await failWithPromptQuoted();
      // The failed request is logged (status >= 500) with the upstream's message, which quotes the email.
      await waitFor('the failure logged', () => logs.lines.some((l) => l.msg === 'request failed'));
      const text = logs.lines.map((l) => JSON.stringify(l)).join('\n');
      expect(text).toContain('could not process the message from [EMAIL]');
      expect(text).not.toContain(email);
      expect(text).not.toContain('jane.doe');
    });
  });
});
