import { startApp, type TestApp } from './support/app';
import {
  type Json,
  mutateJson,
  mutateTextTimes,
  Prng,
  randomJson,
  randomString,
  Tally,
} from './support/fuzz';
import { jsonFrames, readSse } from './support/sse-client';
import { oneStep } from './support/workflows';

/**
 * Malformed input on the REST and SSE edges: every answer is a 2xx or a 4xx in OpenAI's error shape, never a
 * 5xx, a raw parser answer or a hang, and every event stream ends with [DONE]. Seeded: a failure prints the
 * seed and the input's index; FUZZ_SEED=<seed> replays the same inputs, FUZZ_ONLY=<index> just that one.
 */
const SEED = Prng.seedFrom('FUZZ_SEED');
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 10_000);
/** FUZZ_ONLY=<index>: replay that one input of the seed (the rest are generated, not sent), printed whole. */
const ONLY = process.env.FUZZ_ONLY === undefined ? undefined : Number(process.env.FUZZ_ONLY);
const CONCURRENCY = 8;
/** A generous bound: the simulated provider makes one token per symbol, so a 100 KB run of `{` is 100,000 events. */
const ANSWER_WITHIN_MS = 60_000;

const USER = { role: 'user', content: 'hello there' };
/** Valid requests the fuzzer starts from (each field the API knows appears in one of them). */
const CHAT_BASES: Json[] = [
  { model: 'simulated/echo', messages: [USER] },
  {
    model: 'simulated/lorem',
    messages: [USER],
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: 20,
  },
  {
    model: 'echo',
    messages: [
      { role: 'system', content: 'be brief' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'hi' },
          { type: 'image_url', image_url: { url: 'https://x/y.png' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      },
      { role: 'tool', content: '42', tool_call_id: 'call_1' },
    ],
    tools: [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' } } }],
    tool_choice: { type: 'function', function: { name: 'f' } },
    temperature: 0.5,
    top_p: 0.9,
    stop: ['\n'],
    seed: 1,
  },
  {
    model: 'router/auto',
    models: ['simulated/echo', 'simulated/lorem'],
    provider: { order: ['simulated'], allow_fallbacks: true, sort: 'price' },
    messages: [USER],
    reasoning: { effort: 'low', max_tokens: 10 },
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } },
    metadata: { k: 'v' },
    user: 'u1',
    n: 1,
    stream: true,
  },
];
const WORKFLOW_BASE = oneStep('fuzz-flow', {
  type: 'agent',
  model: 'simulated/echo',
  prompt: 'Echo {{topic}}',
  output: 'text',
}) as Json;

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function chatInput(rng: Prng): Sent {
  const base = rng.pick(CHAT_BASES);
  return rng.weighted<() => Sent>([
    // A valid request with one to three changes (types, values, keys, nesting, huge strings...).
    [
      6,
      () => {
        let value = base;
        for (let i = rng.between(1, 3); i > 0; i--) value = mutateJson(rng, value);
        return {
          method: 'POST',
          path: '/v1/chat/completions',
          headers: JSON_HEADERS,
          body: JSON.stringify(value),
        };
      },
    ],
    // The JSON text itself damaged: cut short, characters inserted, brackets repeated...
    [
      2,
      () => ({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: JSON_HEADERS,
        body: mutateTextTimes(rng, JSON.stringify(base)),
      }),
    ],
    // Any JSON at all.
    [
      1,
      () => ({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: JSON_HEADERS,
        body: JSON.stringify(randomJson(rng)),
      }),
    ],
    // Odd headers: content types, a provider key, a request id, an origin.
    [
      1,
      () => ({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: {
          'content-type': rng.pick([
            'application/json',
            'text/plain',
            'application/json; charset=latin1',
            'multipart/form-data',
            '',
          ]),
          'x-provider-key': headerSafe(randomString(rng, { hugeChance: 0 })),
          'x-request-id': headerSafe(randomString(rng, { maxLength: 200, hugeChance: 0 })),
          ...(rng.chance(0.3) ? { origin: headerSafe(randomString(rng, { hugeChance: 0 })) || 'null' } : {}),
        },
        body: JSON.stringify(rng.chance(0.5) ? base : mutateJson(rng, base)),
      }),
    ],
  ])();
}

function eventSourceInput(rng: Prng): Sent {
  const base = rng.pick(CHAT_BASES) as { model: string; messages: Json };
  const params = new URLSearchParams();
  params.set('model', rng.chance(0.8) ? base.model : randomString(rng, { hugeChance: 0 }));
  const messages = JSON.stringify(rng.chance(0.3) ? base.messages : mutateJson(rng, base.messages));
  params.set('messages', rng.chance(0.3) ? mutateTextTimes(rng, messages) : messages);
  for (let i = rng.int(3); i > 0; i--) {
    params.append(
      rng.pick([
        'max_tokens',
        'temperature',
        'stream',
        'tools',
        'stop',
        'model',
        'access_token',
        randomString(rng, { maxLength: 8, hugeChance: 0 }),
      ]),
      rng.chance(0.5)
        ? JSON.stringify(randomJson(rng, { maxDepth: 2 }))
        : randomString(rng, { hugeChance: 0.005, hugeLength: 20_000 }),
    );
  }
  const headers: Record<string, string> = {};
  if (rng.chance(0.1)) headers['last-event-id'] = headerSafe(randomString(rng, { hugeChance: 0 })) || '1';
  return { method: 'GET', path: `/v1/chat/completions/stream?${params.toString()}`, headers };
}

function otherInput(rng: Prng): Sent {
  return rng.weighted<() => Sent>([
    [
      3,
      () => ({
        method: 'POST',
        path: '/v1/workflows',
        headers: JSON_HEADERS,
        body: JSON.stringify(withFreshId(rng, mutateJson(rng, WORKFLOW_BASE))),
      }),
    ],
    [
      2,
      () => ({
        method: 'POST',
        path: `/v1/workflows/${rng.pick(['content_creation', 'fuzz-flow', segment(rng)])}/runs`,
        headers: JSON_HEADERS,
        body: rng.chance(0.7)
          ? JSON.stringify({ input: randomJson(rng) })
          : mutateTextTimes(rng, '{"input":{"topic":"x"}}'),
      }),
    ],
    [
      2,
      () => ({
        method: rng.pick(['GET', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'POST']),
        path: rng.pick([
          '/v1/models',
          '/v1/models/simulated/echo',
          `/v1/chat/completions/${segment(rng)}/events`,
          `/v1/workflow-runs/${segment(rng)}`,
          `/v1/workflow-runs/${segment(rng)}/events?after=${segment(rng)}`,
          '/admin/dead-letters?limit=' + segment(rng),
          '/admin/circuits',
          '/v1/' + segment(rng),
          '/health/ready',
        ]),
        headers: rng.chance(0.5) ? JSON_HEADERS : {},
        body: rng.chance(0.5) ? JSON.stringify(randomJson(rng)) : undefined,
      }),
    ],
    [
      1,
      () => ({
        method: 'POST',
        path: '/admin/dead-letters/replay',
        headers: JSON_HEADERS,
        body: JSON.stringify(randomJson(rng)),
      }),
    ],
  ])();
}

/** A definition id no other input used, so creating it is not a 409 (when it is valid). */
function withFreshId(rng: Prng, value: Json): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof value.id !== 'string')
    return value;
  return rng.chance(0.8) ? { ...value, id: `fuzz-${rng.int(1e9)}` } : value;
}

/** A random string as one URL path segment or query value (lone surrogates made well-formed first). */
function segment(rng: Prng): string {
  return encodeURIComponent(Buffer.from(randomString(rng, { hugeChance: 0 })).toString());
}

/** fetch refuses header values with CR, LF or NUL (no client could send them): keep the rest. */
function headerSafe(text: string): string {
  return [...text].filter((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) <= 0x7e).join('');
}

type Outcome = { label: string; problem?: string };

const ROUTES: Array<[RegExp, string]> = [
  [/^\/v1\/chat\/completions(\/stream)?$/, '$&'],
  [/^\/v1\/chat\/completions\/[^/]*\/events$/, '/v1/chat/completions/:id/events'],
  [/^\/v1\/workflows$/, '$&'],
  [/^\/v1\/workflows\/[^/]*\/runs$/, '/v1/workflows/:id/runs'],
  [/^\/v1\/workflow-runs\/[^/]*(\/events)?$/, '/v1/workflow-runs/:id$1'],
  [/^\/(v1\/models(\/simulated\/echo)?|admin\/[\w/-]+|health\/\w+)$/, '$&'],
];

/** The route a path is for, ids replaced, for the tally (any other path counts as one). */
function routeOf(path: string): string {
  const bare = path.split('?')[0]!;
  for (const [pattern, name] of ROUTES) if (pattern.test(bare)) return bare.replace(pattern, name);
  return '(another path)';
}

async function play(baseUrl: string, sent: Sent): Promise<Outcome> {
  const response = await fetch(`${baseUrl}${sent.path}`, {
    method: sent.method,
    headers: sent.headers,
    ...(sent.body === undefined || sent.method === 'GET' || sent.method === 'HEAD'
      ? {}
      : { body: sent.body }),
    signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
  });
  const type = response.headers.get('content-type') ?? '';
  const label = `${sent.method} ${routeOf(sent.path)} -> ${response.status}`;
  if (response.status >= 500) return { label, problem: await response.text() };
  if (type.startsWith('text/event-stream')) {
    const result = await readSse(response);
    if (result.events.at(-1)?.data !== '[DONE]' && !sent.path.includes('/events'))
      return { label, problem: `stream without [DONE]: ${result.raw.slice(-300)}` };
    const frames = sent.path.includes('/events') ? [] : jsonFrames(result);
    const last = frames.at(-1) as
      { error?: { code?: string }; choices?: Array<{ finish_reason?: string | null }> } | undefined;
    if (last?.error?.code === 'internal_error')
      return { label, problem: `internal_error frame: ${result.raw.slice(-300)}` };
    return { label: `${label} (stream)` };
  }
  const text = await response.text();
  if (response.status >= 400) {
    if (sent.method === 'HEAD') return { label };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { label, problem: `error body is not JSON: ${text.slice(0, 300)}` };
    }
    const error = (body as { error?: Record<string, unknown> }).error;
    if (!error || typeof error.message !== 'string' || typeof error.type !== 'string' || !('code' in error))
      return { label, problem: `error body is not OpenAI's shape: ${text.slice(0, 300)}` };
    return { label: `${label} ${String(error.code)}` };
  }
  return { label };
}

describe('fuzz: REST and SSE', () => {
  let t: TestApp;
  const unexpected: unknown[] = [];
  const onUnexpected = (err: unknown) => unexpected.push(err);

  beforeAll(async () => {
    t = await startApp({ server: { max_connections_per_ip: 0 } });
    process.on('unhandledRejection', onUnexpected);
    process.on('uncaughtException', onUnexpected);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnexpected);
    process.off('uncaughtException', onUnexpected);
    await t.close();
  });

  it.each([
    ['POST /v1/chat/completions', chatInput],
    ['GET /v1/chat/completions/stream (EventSource)', eventSourceInput],
    ['the other REST endpoints (workflows, runs, models, admin, unknown routes)', otherInput],
  ])(
    `${INPUTS} malformed inputs to %s: no 5xx, every error in OpenAI shape, every stream ended, no hang (seed ${SEED})`,
    async (_what, generate) => {
      const rng = new Prng(SEED);
      const tally = new Tally();
      const problems: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < INPUTS) {
          const index = next++;
          const sent = generate(rng);
          if (ONLY !== undefined && index !== ONLY) {
            tally.add('skipped (FUZZ_ONLY)');
            continue;
          }
          if (ONLY !== undefined) console.log(`#${index}: ${JSON.stringify(sent)}`);
          try {
            const outcome = await play(t.url, sent);
            tally.add(outcome.label);
            if (outcome.problem)
              problems.push(`#${index} ${JSON.stringify(sent).slice(0, 500)}\n  -> ${outcome.problem}`);
          } catch (err) {
            problems.push(`#${index} ${JSON.stringify(sent).slice(0, 500)}\n  -> ${String(err)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      console.log(`seed ${SEED}: ${tally.total} inputs answered\n${tally.toString()}`);
      expect(problems.slice(0, 10)).toEqual([]);
      expect(tally.total).toBe(INPUTS);
      expect(unexpected).toEqual([]);
      expect((await fetch(`${t.url}/health/live`)).status).toBe(200);
    },
    300_000,
  );
});
