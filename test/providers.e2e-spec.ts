import OpenAI from 'openai';
import type { VendorFake } from './fakes/vendor-fake';
import { logCollector, startApp, startAppWith, type TestApp } from './support/app';
import { contentOf, deltasOf, jsonFrames, postJson, readSse, type SseResult } from './support/sse-client';
import {
  OLLAMA_CASES,
  ANTHROPIC_CASES,
  GOOGLE_CASES,
  OPENAI_CASES,
  startFake,
  TEST_KEY,
  type VendorCase,
  vendorLayer,
} from './support/vendors';
import { waitFor } from './support/wait';

/**
 * Every vendor through the router, against its fake upstream: the official `openai` client must see the same
 * OpenAI-format output whichever vendor served, including every error kind.
 */

const VENDORS: VendorCase[] = [...OPENAI_CASES, ...ANTHROPIC_CASES, ...GOOGLE_CASES, ...OLLAMA_CASES];

const TOOLS: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];

interface ErrorFrame {
  error: { code: string; type: string; message: string };
}

function errorFrameOf(result: SseResult): ErrorFrame['error'] | undefined {
  const frame = jsonFrames(result).find((f) => 'error' in f) as ErrorFrame | undefined;
  return frame?.error;
}

describe.each(VENDORS)('provider $name ($type) through the router', (vendor) => {
  const model = `${vendor.name}/test-model`;
  let fake: VendorFake;
  let t: TestApp;
  let client: OpenAI;
  const logs = logCollector();

  const streamRaw = async (extra: Record<string, unknown> = {}): Promise<SseResult> =>
    readSse(
      await postJson(`${t.url}/v1/chat/completions`, {
        model,
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
        ...extra,
      }),
    );

  beforeAll(async () => {
    fake = await startFake(vendor);
    t = await startAppWith({ logSink: logs.sink }, vendorLayer(vendor, fake), {
      server: { log_level: 'debug' },
    });
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  it('streams text with usage to the openai SDK, from a correctly translated upstream request', async () => {
    fake.reply({ text: ['Hel', 'lo ', 'wörld 😀'], usage: { prompt: 11, completion: 3 } });
    const stream = await client.chat.completions.create({
      model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello' },
      ],
      max_tokens: 50,
      temperature: 0.2,
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let role: string | undefined;
    for await (const chunk of stream) {
      role ??= chunk.choices[0]?.delta.role;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect({ role, text, finish }).toEqual({ role: 'assistant', text: 'Hello wörld 😀', finish: 'stop' });
    expect(usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
    vendor.checkStreamRequest(fake.lastRequest!, TEST_KEY);
  });

  it('answers without streaming, with the alias, and names the provider in headers', async () => {
    fake.reply({ text: ['Hello ', 'there'], usage: { prompt: 5, completion: 2 } });
    const { data, response } = await client.chat.completions
      .create({ model: `${vendor.name}-alias`, messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    expect(data.choices[0]).toMatchObject({
      message: { role: 'assistant', content: 'Hello there' },
      finish_reason: 'stop',
    });
    expect(data.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
    expect(data.model).toBe(model);
    expect(response.headers.get('x-circuit-breaker-provider')).toBe(vendor.name);
  });

  it('streams thinking as delta.reasoning before the answer, and returns it whole without streaming', async () => {
    const turn = {
      thinking: ['Let me ', 'think.'],
      text: ['Answer.'],
      usage: { prompt: 4, completion: 9, reasoning: 5 },
    };
    fake.reply(turn);
    const result = await streamRaw({ reasoning: { effort: 'low' } });
    const deltas = deltasOf(result);
    expect(deltas.map((d) => d.reasoning ?? '').join('')).toBe('Let me think.');
    expect(contentOf(result)).toBe('Answer.');
    const firstContent = deltas.findIndex((d) => d.content);
    const lastReasoning = deltas.map((d) => Boolean(d.reasoning)).lastIndexOf(true);
    expect(lastReasoning).toBeLessThan(firstContent);

    fake.reply(turn);
    const response = await postJson(`${t.url}/v1/chat/completions`, {
      model,
      messages: [{ role: 'user', content: 'Hi' }],
      reasoning: { effort: 'low' },
    });
    const body = (await response.json()) as { choices: Array<{ message: Record<string, unknown> }> };
    expect(body.choices[0]!.message).toMatchObject({ content: 'Answer.', reasoning: 'Let me think.' });
  });

  it('streams tool calls: id and name first, then the arguments, finish_reason tool_calls', async () => {
    const turn = {
      toolCalls: [{ id: 'call_w1', name: 'get_weather', arguments: ['{"city":', '"Paris"}'] }],
      usage: { prompt: 20, completion: 8 },
    };
    fake.reply(turn);
    const runner = client.chat.completions.stream({
      model,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: TOOLS,
      tool_choice: 'auto',
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    runner.on('chunk', (chunk) => chunks.push(chunk));
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls?.[0];
    expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    expect(call?.id).toMatch(/^call_/);
    expect(JSON.parse((call as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments)).toEqual({
      city: 'Paris',
    });
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    const toolDeltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(toolDeltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather' } });
    if (vendor.streamsToolArguments) expect(toolDeltas.length).toBeGreaterThanOrEqual(3);

    fake.reply(turn);
    const whole = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: TOOLS,
    });
    const wholeCall = whole.choices[0]!.message
      .tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(JSON.parse(wholeCall.function.arguments)).toEqual({ city: 'Paris' });
    expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('ignores keepalives and reassembles a stream that drips in a few bytes at a time', async () => {
    fake.reply({ text: ['kept ', 'alive'], keepalive: true, usage: { prompt: 1, completion: 2 } });
    expect(contentOf(await streamRaw())).toBe('kept alive');
    fake.drip(
      { text: ['drip ', 'by ', 'drip é😀'], usage: { prompt: 1, completion: 3 } },
      { bytes: 3, everyMs: 1 },
    );
    const dripped = await streamRaw();
    expect(contentOf(dripped)).toBe('drip by drip é😀');
    expect(dripped.events.at(-1)?.data).toBe('[DONE]');
  });

  describe('HTTP errors become OpenAI errors of the right kind, without leaking the key', () => {
    it.each(Object.entries(vendor.errors))('%s', async (kind, expected) => {
      fake.fail(kind as Parameters<VendorFake['fail']>[0], {
        retryAfterSeconds: kind === 'rate_limit' ? 7 : undefined,
      });
      const response = await postJson(`${t.url}/v1/chat/completions`, {
        model,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      const text = await response.text();
      const body = JSON.parse(text) as { error: { code: string; type: string; message: string } };
      expect({ status: response.status, code: body.error.code, type: body.error.type }).toEqual(expected);
      expect(body.error.message).toContain(vendor.name);
      if (kind === 'rate_limit') expect(response.headers.get('retry-after')).toBe('7');
      expect(text).not.toContain(TEST_KEY);
      expect(text).not.toContain('leak');
    });

    it('before the first byte of a stream, as an HTTP status (the SDK throws the typed error)', async () => {
      fake.fail('rate_limit', { retryAfterSeconds: 3 });
      await expect(
        client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
      ).rejects.toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    });
  });

  describe('failures inside a stream end it with an error frame and [DONE], never silently', () => {
    const partial = { text: ['partial ', 'answer'] };

    const expectErrorEnd = (result: SseResult, code: string) => {
      expect(result.status).toBe(200);
      expect(contentOf(result)).toBe('partial answer');
      expect(errorFrameOf(result)?.code).toBe(code);
      expect(result.events.at(-1)?.data).toBe('[DONE]');
    };

    it('an error frame from the vendor', async () => {
      fake.failMidStream(partial, 'server');
      expectErrorEnd(await streamRaw(), 'provider_error');
    });

    it('a malformed frame -> invalid_response', async () => {
      fake.malformedMidStream(partial);
      expectErrorEnd(await streamRaw(), 'invalid_response');
    });

    it('a stall with the connection open -> provider_timeout', async () => {
      fake.stallMidStream(partial);
      expectErrorEnd(await streamRaw(), 'provider_timeout');
    });

    it('a socket reset -> connection_lost', async () => {
      fake.closeMidStream(partial);
      expectErrorEnd(await streamRaw(), 'connection_lost');
    });

    it('a clean end before the vendor finished -> connection_lost', async () => {
      fake.endEarly(partial);
      expectErrorEnd(await streamRaw(), 'connection_lost');
    });

    it('no response headers in time -> 504 provider_timeout before the stream starts', async () => {
      fake.stallBeforeHeaders();
      const response = await postJson(`${t.url}/v1/chat/completions`, {
        model,
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(response.status).toBe(504);
      expect(((await response.json()) as ErrorFrame).error.code).toBe('provider_timeout');
    });
  });

  it('closes the upstream request when the client goes away', async () => {
    fake.stallMidStream({ text: ['first '] });
    const controller = new AbortController();
    const response = await postJson(
      `${t.url}/v1/chat/completions`,
      { model, stream: true, messages: [{ role: 'user', content: 'Hi' }] },
      { signal: controller.signal },
    );
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await waitFor('the upstream request to be closed', () => fake.stats.clientAborts === 1);
  });

  it('reuses pooled keep-alive connections to the upstream', async () => {
    const before = fake.stats.connections;
    for (let i = 0; i < 8; i++) {
      fake.reply({ text: [`n${i}`], usage: { prompt: 1, completion: 1 } });
      const response = await postJson(`${t.url}/v1/chat/completions`, {
        model,
        stream: i % 2 === 0,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      await response.text();
    }
    // One connection, or two if a request raced the previous stream's connection back into the pool.
    expect(fake.stats.connections - before).toBeLessThanOrEqual(2);
  });

  it('never writes the provider key to the logs', () => {
    const all = JSON.stringify(logs.lines);
    expect(logs.lines.length).toBeGreaterThan(10);
    expect(all).not.toContain(TEST_KEY);
  });
});

describe.each(VENDORS.filter((v) => v.usesKey))('provider $name without a configured key', (vendor) => {
  const model = `${vendor.name}/test-model`;
  let fake: VendorFake;
  let t: TestApp;

  beforeAll(async () => {
    fake = await startFake(vendor);
    t = await startApp(vendorLayer(vendor, fake, { apiKey: null }));
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('is not listed in /v1/models', async () => {
    const list = (await (await fetch(`${t.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(list.data.map((m) => m.id)).not.toContain(model);
    expect(list.data.map((m) => m.id)).toContain('simulated/echo');
  });

  it('refuses a request that brings no key, saying how to supply one', async () => {
    const response = await postJson(`${t.url}/v1/chat/completions`, {
      model,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as ErrorFrame;
    expect(body.error.code).toBe('provider_key_missing');
    expect(body.error.message).toContain('X-Provider-Key');
    expect(fake.requests).toHaveLength(0);
  });

  it("serves a request with the caller's own key (bare, or as provider=key pairs)", async () => {
    for (const header of ['sk-byok-bare-1234567890', `other=nope,${vendor.name}=sk-byok-pair-1234567890`]) {
      fake.reply({ text: ['mine'], usage: { prompt: 1, completion: 1 } });
      const response = await postJson(
        `${t.url}/v1/chat/completions`,
        { model, stream: true, messages: [{ role: 'user', content: 'Hi' }] },
        { headers: { 'x-provider-key': header } },
      );
      expect(contentOf(await readSse(response))).toBe('mine');
      const expectedKey = header.includes('=') ? 'sk-byok-pair-1234567890' : header;
      vendor.checkStreamRequest(fake.lastRequest!, expectedKey);
    }
  });
});
