import OpenAI, { APIError, RateLimitError } from 'openai';
import { anthropicWire } from './fakes/anthropic.fake';
import { openAiWire } from './fakes/openai.fake';
import { lastUserMessageText, VendorFake } from './fakes/vendor-fake';
import { startApp, type TestApp, withModels } from './support/app';
import { contentOf, jsonFrames, postJson, readSse } from './support/sse-client';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { TEST_KEY, TEST_TIMEOUTS } from './support/vendors';
import { waitFor } from './support/wait';

/**
 * Failover through the public API, with the official openai client: a primary on the OpenAI wire and a backup
 * on the Anthropic wire, both scripted fakes on loopback. (Circuits are kept out of the way here with a high
 * minimum request count; test/circuits.e2e-spec.ts covers them.)
 */
const PRIMARY = 'primary/test-model';
const BACKUP = 'backup/test-model';
const ALONE = 'primary/alone';
const USER = [{ role: 'user' as const, content: 'Say hello' }];

function layers(
  primary: VendorFake,
  backup: VendorFake,
  errorHandling: Record<string, unknown> = {},
  /** Nodes that must share circuits share a prefix; otherwise each app has its own (see startApp). */
  prefix?: string,
) {
  return [
    {
      ...(prefix ? { redis: { key_prefix: prefix } } : {}),
      streaming: {
        error_handling: {
          retry_delay: '10ms',
          max_retry_delay: '20ms',
          max_retries: 2,
          max_rate_limit_wait: '2s',
          first_token_timeout: '400ms',
          circuit_breaker_min_requests: 1000,
          ...errorHandling,
        },
      },
      providers: {
        primary: { type: 'openai', base_url: `${primary.url}/v1`, api_key: TEST_KEY, ...TEST_TIMEOUTS },
        backup: {
          type: 'anthropic',
          base_url: `${backup.url}/v1`,
          api_key: 'sk-ant-backup',
          ...TEST_TIMEOUTS,
        },
      },
      routing: {
        virtual_models: [{ id: 'router/test', strategy: 'priority', models: [ALONE, BACKUP] }],
      },
    },
    withModels(
      [],
      { id: PRIMARY, provider: 'primary', upstream: 'gpt-test', fallbacks: [BACKUP] },
      { id: ALONE, provider: 'primary', upstream: 'gpt-alone' },
      { id: BACKUP, provider: 'backup', upstream: 'claude-test' },
    ),
  ];
}

/**
 * The primary (OpenAI wire) and backup (Anthropic wire) fakes of a describe block: started before it, reset
 * between its tests, closed after it. Both are one object each for the whole block, so they can be
 * destructured at once.
 */
function fakesForSuite(): { primary: VendorFake; backup: VendorFake } {
  const primary = new VendorFake(openAiWire);
  const backup = new VendorFake(anthropicWire);
  beforeAll(async () => {
    await primary.start();
    await backup.start();
  });
  afterEach(() => {
    primary.reset();
    backup.reset();
  });
  afterAll(async () => {
    await primary.close();
    await backup.close();
  });
  return { primary, backup };
}

describe('failover before the first token', () => {
  const { primary, backup } = fakesForSuite();
  let t: TestApp;
  let client: OpenAI;

  beforeAll(async () => {
    t = await startApp(...layers(primary, backup));
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => t.close());

  async function streamed(model: string, extra: Record<string, unknown> = {}) {
    const stream = await client.chat.completions.create({ model, messages: USER, stream: true, ...extra });
    let text = '';
    const models = new Set<string>();
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      models.add(chunk.model);
    }
    return { text, models: [...models] };
  }

  it('a 500 on the primary: the backup answers, streaming and not, and says it served', async () => {
    primary.fail('server');
    backup.reply({ text: ['Hello ', 'from backup'] });
    expect(await streamed(PRIMARY)).toEqual({ text: 'Hello from backup', models: [BACKUP] });

    primary.fail('server');
    backup.reply({ text: ['whole answer'] });
    const { data, response } = await client.chat.completions
      .create({ model: PRIMARY, messages: USER })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('whole answer');
    expect(data.model).toBe(BACKUP);
    expect(response.headers.get('x-circuit-breaker-provider')).toBe('backup');
    expect(primary.requests).toHaveLength(2);
  });

  it('a 200 whose first frame is an error fails over', async () => {
    primary.failMidStream({}, 'server');
    backup.reply({ text: ['clean'] });
    expect((await streamed(PRIMARY)).text).toBe('clean');
  });

  it('a malformed first frame fails over (no retry of the same provider)', async () => {
    primary.malformedMidStream({});
    backup.reply({ text: ['clean'] });
    expect((await streamed(PRIMARY)).text).toBe('clean');
    expect(primary.requests).toHaveLength(1);
  });

  it('a stall before the first token times out and fails over', async () => {
    primary.stallMidStream({});
    backup.reply({ text: ['after the stall'] });
    expect((await streamed(PRIMARY)).text).toBe('after the stall');
    await waitForAbort(primary);
  });

  it('a dropped connection is retried on the same provider first', async () => {
    primary.closeMidStream({});
    primary.reply({ text: ['second try'] });
    expect((await streamed(PRIMARY)).text).toBe('second try');
    expect(primary.requests).toHaveLength(2);
    expect(backup.requests).toHaveLength(0);
  });

  it('a 429 moves to the backup at once, without waiting for the retry-after', async () => {
    primary.fail('rate_limit', { retryAfterSeconds: 30 });
    backup.reply({ text: ['no wait'] });
    // The retry-after (30 s) outlasts the test's own timeout (20 s): the backup's answer arriving at all means
    // it was asked while the primary's retry-after still ran.
    expect((await streamed(PRIMARY)).text).toBe('no wait');
    expect(primary.requests).toHaveLength(1);
  });

  it('a 429 with no other provider: a short retry-after is waited out, then the retry succeeds', async () => {
    primary.fail('rate_limit', { retryAfterSeconds: 1 });
    primary.reply({ text: ['waited'] });
    expect((await streamed(ALONE)).text).toBe('waited');
    expect(primary.requests).toHaveLength(2);
  });

  it('a 429 with no other provider and a long retry-after: 429 with Retry-After to the client', async () => {
    primary.fail('rate_limit', { retryAfterSeconds: 60 });
    const error = await streamed(ALONE).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).headers.get('retry-after')).toBe('60');
    expect(primary.requests).toHaveLength(1);
  });

  it('the request can bring its own fallbacks (models) and provider order', async () => {
    primary.fail('unavailable');
    backup.reply({ text: ['request fallback'] });
    expect((await streamed(ALONE, { models: [BACKUP] })).text).toBe('request fallback');

    backup.reply({ text: ['ordered'] });
    expect((await streamed(PRIMARY, { provider: { order: ['backup'] } })).text).toBe('ordered');
    expect(primary.requests).toHaveLength(1);

    const bad = await postJson(`${t.url}/v1/chat/completions`, {
      model: ALONE,
      models: ['nope/nope'],
      messages: USER,
    });
    expect(bad.status).toBe(404);
    expect(await bad.json()).toMatchObject({ error: { code: 'model_not_found', param: 'models[0]' } });
  });

  it('a virtual model walks its members', async () => {
    primary.fail('server');
    backup.reply({ text: ['virtual'] });
    expect(await streamed('router/test')).toEqual({ text: 'virtual', models: [BACKUP] });
  });

  it('when every provider fails, the client gets the last error, as an HTTP status before any stream', async () => {
    // The last provider left gets its retries too (max_retries: 2) before the client is told.
    primary.fail('server');
    backup.fail('server').fail('server').fail('server');
    const error = await streamed(PRIMARY).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).status).toBe(502);
    expect((error as APIError).code).toBe('provider_error');
    expect(primary.requests).toHaveLength(1);
    expect(backup.requests).toHaveLength(3);
  });
});

describe('a failure after the first token', () => {
  const { primary, backup } = fakesForSuite();

  it('ends the stream with an error frame and [DONE], never silently, never switching answers', async () => {
    const t = await startApp(...layers(primary, backup));
    try {
      primary.closeMidStream({ text: ['Hello, ', 'wor'] });
      const result = await readSse(
        await postJson(`${t.url}/v1/chat/completions`, { model: PRIMARY, stream: true, messages: USER }),
      );
      expect(result.status).toBe(200);
      expect(contentOf(result)).toBe('Hello, wor');
      const frames = jsonFrames(result);
      expect(frames.at(-1)).toMatchObject({ error: { code: 'connection_lost', type: 'upstream_error' } });
      expect(result.events.at(-1)?.data).toBe('[DONE]');
      expect(backup.requests).toHaveLength(0);

      // The official client surfaces it as an error, not as a short answer.
      primary.closeMidStream({ text: ['Hello'] });
      const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const stream = await client.chat.completions.create({ model: PRIMARY, messages: USER, stream: true });
      await expect(
        (async () => {
          for await (const chunk of stream) void chunk;
        })(),
      ).rejects.toThrow(/connection/i);
    } finally {
      await t.close();
    }
  });

  it('with continue_after_failure, continues on the backup from the partial answer and marks the splice', async () => {
    const t = await startApp(...layers(primary, backup, { continue_after_failure: true }));
    try {
      primary.closeMidStream({ text: ['The start, '] });
      backup.reply({ text: ['and the rest.'] });
      const result = await readSse(
        await postJson(`${t.url}/v1/chat/completions`, { model: PRIMARY, stream: true, messages: USER }),
      );
      expect(contentOf(result)).toBe('The start, and the rest.');
      const last = jsonFrames(result).at(-1) as {
        choices: Array<{ finish_reason: string }>;
        splices: unknown;
      };
      expect(last.choices[0]?.finish_reason).toBe('stop');
      expect(last.splices).toEqual([{ at: 11, from: PRIMARY, reason: 'connection_lost' }]);
      // The backup was asked to continue the partial answer (Anthropic prefill: a final assistant message).
      const sent = backup.lastRequest?.body as { messages: Array<{ role: string; content: unknown }> };
      expect(sent.messages.at(-1)?.role).toBe('assistant');
      expect(JSON.stringify(sent.messages.at(-1)?.content)).toContain('The start,');
      expect(lastUserMessageText(sent)).toBe('Say hello');
    } finally {
      await t.close();
    }
  });
});

async function waitForAbort(fake: VendorFake): Promise<void> {
  await waitFor('the upstream request to be aborted', () => fake.stats.clientAborts > 0);
}

describe('circuits and key health through the public API', () => {
  const { primary, backup } = fakesForSuite();
  const prefix = testPrefix('cbtest-fo');
  afterAll(() => deleteKeys(prefix));

  it('a failing primary opens its circuit at the threshold; a second node skips it too, then half-opens after the cool-down', async () => {
    const circuit = {
      circuit_breaker_min_requests: 4,
      circuit_breaker_threshold: 50,
      circuit_breaker_window: '30s',
      circuit_breaker_cool_down: '1500ms',
      circuit_breaker_half_open_trials: 1,
      max_retries: 0,
    };
    const a = await startApp(...layers(primary, backup, circuit, prefix));
    const b = await startApp(...layers(primary, backup, circuit, prefix));
    try {
      const ask = async (app: TestApp) => {
        const response = await postJson(`${app.url}/v1/chat/completions`, { model: PRIMARY, messages: USER });
        expect(response.status).toBe(200);
        return response.headers.get('x-circuit-breaker-provider');
      };
      const state = async (app: TestApp) => {
        const list = (await (await fetch(`${app.url}/admin/circuits`)).json()) as {
          data: Array<{ provider: string; state: string; failures: number; requests: number }>;
        };
        return list.data.find((c) => c.provider === 'primary');
      };

      // Below the minimum request count the circuit stays closed whatever the error rate.
      for (let i = 0; i < 3; i++) {
        primary.fail('server');
        expect(await ask(a)).toBe('backup');
      }
      expect(await state(a)).toMatchObject({ state: 'closed', failures: 3, requests: 3 });
      // The fourth failure reaches min_requests at 100% errors: open.
      primary.fail('server');
      expect(await ask(a)).toBe('backup');
      expect(await state(a)).toMatchObject({ state: 'open' });

      // Node B never saw a failure itself, yet skips the primary.
      await waitFor('node B to learn the circuit is open', async () => (await state(b))?.state === 'open');
      const before = primary.requests.length;
      expect(await ask(b)).toBe('backup');
      expect(primary.requests).toHaveLength(before);
      const metrics = await (await fetch(`${b.url}/metrics`)).text();
      expect(metrics).toMatch(/cb_circuit_state\{provider="primary",model="primary\/test-model"\} 2/);
      const ready = (await (await fetch(`${b.url}/health/ready`)).json()) as {
        details: { providers: { circuits: Array<{ provider: string; state: string }> } };
      };
      expect(ready.details.providers.circuits).toEqual([
        expect.objectContaining({ provider: 'primary', state: 'open' }),
      ]);

      // After the cool-down, one trial goes to the primary (it has recovered), and its success closes the circuit.
      await waitFor('the cool-down', async () => (await state(b))?.state === 'half_open', 5000);
      expect(await ask(b)).toBe('primary');
      await waitFor('the circuit to close everywhere', async () => (await state(a))?.state === 'closed');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a refused configured key flags the provider (metrics, readiness) and the backup serves', async () => {
    const t = await startApp(...layers(primary, backup));
    try {
      primary.fail('auth');
      const response = await postJson(`${t.url}/v1/chat/completions`, { model: PRIMARY, messages: USER });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-circuit-breaker-provider')).toBe('backup');
      expect(primary.requests).toHaveLength(1);
      const metrics = await (await fetch(`${t.url}/metrics`)).text();
      expect(metrics).toMatch(/cb_provider_misconfigured\{provider="primary"\} 1/);
      const ready = (await (await fetch(`${t.url}/health/ready`)).json()) as {
        details: { providers: { misconfigured: Array<{ provider: string; reason: string }> } };
      };
      expect(ready.details.providers.misconfigured).toEqual([
        expect.objectContaining({ provider: 'primary' }),
      ]);
      expect(JSON.stringify(ready)).not.toContain(TEST_KEY);

      // Routed last now; a success on the key (fixed upstream) clears the flag.
      const routing = (await (await fetch(`${t.url}/admin/routing`)).json()) as {
        data: { misconfigured: unknown[] };
      };
      expect(routing.data.misconfigured).toHaveLength(1);
      const direct = await postJson(`${t.url}/v1/chat/completions`, { model: ALONE, messages: USER });
      expect(direct.status).toBe(200);
      expect(
        (await (await fetch(`${t.url}/metrics`)).text()).match(
          /cb_provider_misconfigured\{provider="primary"\} (\d)/,
        )?.[1],
      ).toBe('0');
    } finally {
      await t.close();
    }
  });
});
