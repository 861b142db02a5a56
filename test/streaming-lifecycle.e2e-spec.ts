import { request as httpRequest, type IncomingMessage } from 'node:http';
import OpenAI from 'openai';
import { startApp, type TestApp, withModels } from './support/app';
import { simulatedOf } from './support/simulated';
import { contentOf, deltasOf, jsonFrames, postJson, readSse } from './support/sse-client';
import { sleep, waitFor } from './support/wait';

const user = (content: string) => [{ role: 'user', content }];

const TEST_MODELS = [
  { id: 'test/slow-start', provider: 'simulated', upstream: 'echo', options: { first_token_delay: '300ms' } },
  {
    id: 'test/slow',
    provider: 'simulated',
    upstream: 'lorem',
    options: { tokens_per_second: 50, length: 2000 },
  },
  { id: 'test/endless', provider: 'simulated', upstream: 'lorem', options: { length: 500000 } },
  { id: 'test/fail-midstream', provider: 'simulated', upstream: 'echo', options: { fail_after_chunks: 3 } },
  {
    id: 'test/rate-limited',
    provider: 'simulated',
    upstream: 'echo',
    options: { fail_after_chunks: 0, fail_with: 'rate_limit_exceeded' },
  },
  {
    id: 'test/late-failure',
    provider: 'simulated',
    upstream: 'echo',
    options: { fail_after_chunks: 0, fail_with: 'provider_timeout', first_token_delay: '200ms' },
  },
];

describe('SSE stream lifecycle', () => {
  let t: TestApp;
  const url = () => `${t.url}/v1/chat/completions`;

  beforeAll(async () => {
    t = await startApp(withModels([], ...TEST_MODELS), {
      streaming: {
        protocols: { sse: { keepalive_interval: '50ms', max_connections: 4, retry_timeout: '2s' } },
        // A client leaving stops its completion at once here (no grace for a resume: see stream-hub e2e).
        hub: { orphan_grace: '0s' },
      },
    });
  });
  afterAll(() => t.close());

  it('sends keepalive comments while waiting for the first token', async () => {
    const res = await postJson(url(), {
      model: 'test/slow-start',
      messages: user('late hello'),
      stream: true,
    });
    const sse = await readSse(res);
    expect(sse.raw.startsWith(': keepalive\n\n: keepalive\n\n')).toBe(true);
    expect(sse.comments.length).toBeGreaterThanOrEqual(3);
    expect(contentOf(sse)).toBe('late hello');
    expect(res.headers.get('x-circuit-breaker-model')).toBe('test/slow-start');
  });

  it('aborts the generation at once when the client disconnects (streaming and not)', async () => {
    const sim = simulatedOf(t);
    const before = { ...sim.stats };
    const controller = new AbortController();
    const res = await postJson(
      url(),
      { model: 'test/slow', messages: user('x'), stream: true },
      { signal: controller.signal },
    );
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await waitFor(
      'the simulated provider to observe the abort',
      () => sim.stats.aborted === before.aborted + 1,
    );
    expect(sim.stats.active).toBe(0);
    // At 50 tokens/s, stopping "at once" means a handful of tokens, not the 2000 it was asked for.
    expect(sim.stats.tokensBeforeAbort - before.tokensBeforeAbort).toBeLessThan(20);

    const plain = new AbortController();
    const pending = postJson(url(), { model: 'test/slow', messages: user('x') }, { signal: plain.signal });
    await waitFor('the non-streaming generation to start', () => sim.stats.active === 1);
    plain.abort();
    await expect(pending).rejects.toThrow();
    await waitFor('the second abort', () => sim.stats.aborted === before.aborted + 2);
    expect(sim.stats.active).toBe(0);
  });

  it('ends a stream that fails after it began with an error frame, then [DONE]', async () => {
    const res = await postJson(url(), {
      model: 'test/fail-midstream',
      messages: user('one two three four five'),
      stream: true,
    });
    expect(res.status).toBe(200);
    const sse = await readSse(res);
    const frames = sse.raw
      .split('\n\n')
      .filter((frame) => frame !== '' && frame !== ': keepalive')
      .map((frame) => frame.replace(/^id: chatcmpl-[0-9a-f]+:\d+\n/, ''));
    expect(frames).toHaveLength(6);
    // The failure was dead-lettered (durably, before this frame left): the frame names the letter.
    expect(frames[4]).toMatch(
      /^data: \{"error":\{"message":"simulated connection_lost after 3 chunks","type":"upstream_error","param":null,"code":"connection_lost","dead_letter_id":"dl-[0-9a-f]{32}"\}\}$/,
    );
    expect(frames[5]).toBe('data: [DONE]');
    const contents = deltasOf(sse)
      .slice(1, 4)
      .map((d) => d.content);
    expect(contents).toEqual(['one', ' two', ' three']);

    const openai = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: 'test/fail-midstream',
      messages: [{ role: 'user', content: 'a b c d' }],
      stream: true,
    });
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })(),
    ).rejects.toThrow(/simulated connection_lost after 3 chunks/);
    expect(text).toBe('a b c');
  });

  it('answers a failure before the first token with a real HTTP status', async () => {
    const res = await postJson(url(), { model: 'test/rate-limited', messages: user('x'), stream: true });
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual({
      error: {
        message: 'simulated rate_limit_exceeded after 0 chunks',
        type: 'rate_limit_error',
        param: null,
        code: 'rate_limit_exceeded',
        dead_letter_id: expect.stringMatching(/^dl-[0-9a-f]{32}$/),
      },
    });
    const openai = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await expect(
      openai.chat.completions.create({
        model: 'test/rate-limited',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('reports a failure after keepalives began as an error frame on the open stream', async () => {
    const res = await postJson(url(), { model: 'test/late-failure', messages: user('x'), stream: true });
    expect(res.status).toBe(200);
    const sse = await readSse(res);
    expect(sse.comments.length).toBeGreaterThanOrEqual(2);
    expect(sse.events.map((e) => e.data)).toEqual([
      expect.stringMatching(
        /^\{"error":\{"message":"simulated provider_timeout after 0 chunks","type":"upstream_error","param":null,"code":"provider_timeout","dead_letter_id":"dl-[0-9a-f]{32}"\}\}$/,
      ),
      '[DONE]',
    ]);
  });

  it('stops reading the provider while a client does not read (backpressure), without buffering', async () => {
    const sim = simulatedOf(t);
    const start = sim.stats.tokens;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(
        url(),
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        resolve,
      );
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'test/endless', messages: user('x'), stream: true }));
    });
    res.pause();
    await waitFor(
      'the stream to fill the socket buffers',
      async () => {
        const a = sim.stats.tokens;
        await sleep(300);
        return a > start && sim.stats.tokens === a;
      },
      10_000,
    );
    const stalledAt = sim.stats.tokens - start;
    await sleep(300);
    expect(sim.stats.tokens - start).toBe(stalledAt);
    expect(stalledAt).toBeLessThan(500_000 / 2);
    expect(sim.stats.active).toBe(1);
    res.destroy();
    await waitFor('the stalled generation to be aborted', () => sim.stats.active === 0);
  }, 20_000);

  it('refuses SSE connections over protocols.sse.max_connections with 503 and retry-after', async () => {
    const controllers = [1, 2, 3, 4].map(() => new AbortController());
    const open = await Promise.all(
      controllers.map((c) =>
        postJson(url(), { model: 'test/slow', messages: user('x'), stream: true }, { signal: c.signal }),
      ),
    );
    expect(open.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const refused = await postJson(url(), { model: 'simulated/echo', messages: user('x'), stream: true });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');
    const plain = await postJson(url(), { model: 'simulated/echo', messages: user('not streamed') });
    expect(plain.status).toBe(200);
    controllers.forEach((c) => c.abort());
    await waitFor('streams to close', () => simulatedOf(t).stats.active === 0);
    const again = await postJson(url(), { model: 'simulated/echo', messages: user('x'), stream: true });
    expect(again.status).toBe(200);
    await readSse(again);
  });

  it('serves the EventSource GET form with retry, an id on every frame, and 204 to a reconnect', async () => {
    const query = new URLSearchParams({
      model: 'echo',
      messages: JSON.stringify(user('via GET')),
      include_usage: 'true',
    });
    const res = await fetch(`${url()}/stream?${query.toString()}`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    const sse = await readSse(res);
    expect(sse.retries).toEqual([2000]);
    expect(sse.raw.startsWith('retry: 2000\n\n')).toBe(true);
    const id = (jsonFrames(sse)[0] as { id: string }).id;
    // Each frame carries the hub sequence number of its event: the role chunk shares the first content's.
    expect(sse.events.map((e) => e.id)).toEqual([1, 1, 2, 3, 3, 3].map((seq) => `${id}:${seq}`));
    expect(sse.events[sse.events.length - 1]?.data).toBe('[DONE]');
    expect(contentOf(sse)).toBe('via GET');
    expect(jsonFrames(sse).some((f) => (f as { usage?: unknown }).usage)).toBe(true);

    const reconnect = await fetch(`${url()}/stream?${query.toString()}`, {
      headers: { 'last-event-id': `${id}:5` },
    });
    expect(reconnect.status).toBe(204);
    expect(await reconnect.text()).toBe('');
  });
});
