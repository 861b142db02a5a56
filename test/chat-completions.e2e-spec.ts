import OpenAI from 'openai';
import { deltasOf, jsonFrames, postJson, readSse } from './support/sse-client';
import { startApp, type TestApp } from './support/app';

describe('POST /v1/chat/completions (official openai client and raw SSE)', () => {
  let t: TestApp;
  let openai: OpenAI;

  beforeAll(async () => {
    t = await startApp();
    openai = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'not-needed', maxRetries: 0 });
  });
  afterAll(() => t.close());

  it('streams text and usage to the openai SDK', async () => {
    const stream = await openai.chat.completions.create({
      model: 'simulated/echo',
      messages: [{ role: 'user', content: 'Stream me back, please.' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let roles = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    const ids = new Set<string>();
    for await (const chunk of stream) {
      ids.add(chunk.id);
      if (chunk.choices[0]?.delta.role === 'assistant') roles++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Stream me back, please.');
    expect(roles).toBe(1);
    expect(finish).toBe('stop');
    expect(ids.size).toBe(1);
    expect(usage).toEqual({
      prompt_tokens: 12,
      completion_tokens: 6,
      total_tokens: 18,
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it('returns a chat.completion with usage when stream is false', async () => {
    const { data, response } = await openai.chat.completions
      .create({ model: 'lorem', messages: [{ role: 'user', content: 'Write.' }], seed: 42, max_tokens: 12 })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('simulated/lorem');
    expect(data.choices[0]?.message.role).toBe('assistant');
    expect(data.choices[0]?.message.content?.length).toBeGreaterThan(10);
    expect(data.choices[0]?.finish_reason).toBe('length');
    expect(data.usage).toMatchObject({ completion_tokens: 12, prompt_tokens: 8, total_tokens: 20 });
    expect(response.headers.get('x-circuit-breaker-provider')).toBe('simulated');
    expect(response.headers.get('x-circuit-breaker-model')).toBe('simulated/lorem');
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('streams a tool call with streamed arguments that the SDK reassembles', async () => {
    const runner = openai.chat.completions.stream({
      model: 'simulated/echo',
      messages: [{ role: 'user', content: 'What is the weather in Paris for 2 days?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: {
              type: 'object',
              properties: { city: { type: 'string' }, days: { type: 'integer' } },
              required: ['city', 'days'],
            },
          },
        },
      ],
    });
    const deltas: string[] = [];
    runner.on('tool_calls.function.arguments.delta', (e) => deltas.push(e.arguments_delta));
    const completion = await runner.finalChatCompletion();
    const call = completion.choices[0]?.message.tool_calls?.[0];
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type).toBe('function');
    expect(call?.id).toMatch(/^call_/);
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({
      city: 'What is the weather in Paris for 2 days?',
      days: 2,
    });
    expect(deltas.length).toBeGreaterThan(3);
  });

  it('streams reasoning as delta.reasoning before the content', async () => {
    const res = await postJson(`${t.url}/v1/chat/completions`, {
      model: 'simulated/echo',
      messages: [{ role: 'user', content: 'Think, then answer.' }],
      stream: true,
      reasoning: { effort: 'medium' },
    });
    const deltas = deltasOf(await readSse(res));
    const firstContent = deltas.findIndex((d) => d.content !== undefined && d.content !== '');
    const reasoning = deltas.map((d) => d.reasoning ?? '').join('');
    expect(reasoning).toMatch(/^The user sent \d+ tokens/);
    expect(deltas.slice(1, firstContent).every((d) => d.reasoning !== undefined)).toBe(true);
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('Think, then answer.');
  });

  it('writes exactly the OpenAI frames: role chunk, deltas, finish, usage, [DONE]', async () => {
    const res = await postJson(
      `${t.url}/v1/chat/completions`,
      {
        model: 'simulated/echo',
        messages: [{ role: 'user', content: 'Hi you' }],
        stream: true,
        stream_options: { include_usage: true },
      },
      { headers: { 'x-request-id': 'trace-abc.123' } },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(res.headers.get('x-request-id')).toBe('trace-abc.123');
    expect(res.headers.get('x-circuit-breaker-provider')).toBe('simulated');
    const sse = await readSse(res);
    const first = jsonFrames(sse)[0] as { id: string; created: number };
    const head = `{"id":"${first.id}","object":"chat.completion.chunk","created":${first.created},"model":"simulated/echo","provider":"simulated","system_fingerprint":null,"choices":[`;
    expect(res.headers.get('x-completion-id')).toBe(first.id);
    // Every frame names the hub event it comes from (`id: <completionId>:<seq>`), for Last-Event-ID resumes.
    const id = (seq: number) => `id: ${first.id}:${seq}\n`;
    const chunk = (seq: number, delta: string, finish: string) =>
      `${id(seq)}data: ${head}{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}],"usage":null}\n\n`;
    expect(sse.raw).toBe(
      chunk(1, '{"role":"assistant","content":""}', 'null') +
        chunk(1, '{"content":"Hi"}', 'null') +
        chunk(2, '{"content":" you"}', 'null') +
        chunk(3, '{}', '"stop"') +
        `${id(3)}data: ${head}],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,"completion_tokens_details":{"reasoning_tokens":0}}}\n\n` +
        `${id(3)}data: [DONE]\n\n`,
    );
  });

  it('omits usage fields when include_usage is not asked for', async () => {
    const res = await postJson(`${t.url}/v1/chat/completions`, {
      model: 'simulated/echo',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    const sse = await readSse(res);
    const frames = jsonFrames(sse);
    expect(frames.every((f) => !('usage' in f))).toBe(true);
    expect(frames[frames.length - 1]).toMatchObject({ choices: [{ delta: {}, finish_reason: 'stop' }] });
    expect(sse.events[sse.events.length - 1]?.data).toBe('[DONE]');
  });

  it('lists models in the OpenAI format and retrieves one by provider/model id', async () => {
    const models = [];
    for await (const model of openai.models.list()) models.push(model);
    // No vendor has a key here: router/auto has no member that can serve, so it is not listed.
    expect(models.map((m) => m.id)).toEqual(['simulated/echo', 'simulated/lorem']);
    expect(models[0]).toMatchObject({ object: 'model', owned_by: 'simulated', context_length: 32768 });
    const one = await openai.models.retrieve('simulated/lorem');
    expect(one.id).toBe('simulated/lorem');
    await expect(openai.models.retrieve('simulated/nope')).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
    expect(await openai.models.retrieve('router/auto')).toMatchObject({
      id: 'router/auto',
      owned_by: 'circuit-breaker',
      routing: { strategy: 'lowest_latency', models: [] },
    });
  });

  it('router/auto never falls back to a test model: with no vendor key it says which keys to set', async () => {
    const failure = openai.chat.completions.create({
      model: 'router/auto',
      messages: [{ role: 'user', content: 'auto' }],
    });
    await expect(failure).rejects.toMatchObject({ status: 401, code: 'provider_key_missing' });
    await expect(failure).rejects.toThrow(
      /No provider of router\/auto is configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, OPENROUTER_API_KEY or send your key in the X-Provider-Key header/,
    );
  });
});
