import type { WireResponse, WireStep } from '../src/providers/testing/fake-upstream';
import { openAiWire } from './fakes/openai.fake';
import { VendorFake } from './fakes/vendor-fake';
import { startApp, type TestApp, withModels } from './support/app';
import { describeProbe, probeDuring } from './support/probe';
import { contentOf, jsonFrames, postJson, readSse } from './support/sse-client';
import { TEST_KEY, TEST_TIMEOUTS } from './support/vendors';
import { waitFor } from './support/wait';

/**
 * A hostile or broken upstream cannot stall the node, grow its memory without bound, or keep a stream open
 * forever: lines and events are bounded (max_frame_size), progress is content (progress_timeout), and every
 * completion ends by max_stream_duration. Each case reproduces what an attacker's upstream did.
 */
const ALONE = 'hostile/alone';
const WITH_FALLBACK = 'hostile/with-fallback';
const MB = 1024 * 1024;
const SSE_HEADERS = { 'content-type': openAiWire.contentType };

/** `data: ` and then `size` bytes of one line that never ends, written a megabyte at a time. */
function endlessLine(size: number): WireStep[] {
  const megabyte = Buffer.alloc(MB, 'a');
  return [{ write: 'data: ' }, ...Array.from({ length: size / MB }, () => ({ write: megabyte }))];
}

/** One event made of many short `data:` lines (each under any line limit), never dispatched. */
function endlessEvent(size: number): WireStep[] {
  const lines = Buffer.from(
    'data: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n'.repeat(MB / 72),
  );
  return Array.from({ length: size / lines.length }, () => ({ write: lines }));
}

/** The first frames of a real answer (role and one content delta), then `after`. */
function firstTokenThen(after: WireStep[]): (request: Parameters<typeof openAiWire.json>[1]) => WireResponse {
  return (request) => {
    const { head, body } = openAiWire.streamFrames({ text: ['first '] }, request);
    return {
      status: 200,
      headers: SSE_HEADERS,
      steps: [...[...head, ...body].map((write) => ({ write })), ...after],
    };
  };
}

function ask(t: TestApp, model: string, extra: Record<string, unknown> = {}) {
  return postJson(`${t.url}/v1/chat/completions`, {
    model,
    stream: true,
    messages: [{ role: 'user', content: 'Hi' }],
    ...extra,
  });
}

describe('upstream limits', () => {
  let fake: VendorFake;
  let t: TestApp;

  beforeAll(async () => {
    fake = await new VendorFake(openAiWire).start();
    t = await startApp(
      {
        streaming: { error_handling: { max_retries: 0, circuit_breaker_min_requests: 1_000_000 } },
        providers: {
          hostile: {
            type: 'openai',
            base_url: `${fake.url}/v1`,
            api_key: TEST_KEY,
            ...TEST_TIMEOUTS,
            progress_timeout: '500ms',
          },
        },
      },
      withModels(
        [],
        { id: ALONE, provider: 'hostile', upstream: 'gpt-test' },
        { id: WITH_FALLBACK, provider: 'hostile', upstream: 'gpt-test', fallbacks: ['simulated/echo'] },
      ),
    );
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });
  afterEach(() => fake.reset());

  it.each([
    ['one 64 MB line', endlessLine(64 * MB)],
    ['one 64 MB event of short data lines', endlessEvent(64 * MB)],
  ])(
    '%s fails as invalid_response at max_frame_size; memory stays flat and the node keeps answering',
    async (what, steps) => {
      fake.enqueue(() => ({ status: 200, headers: SSE_HEADERS, steps }));
      const rssBefore = process.memoryUsage().rss;
      const { result, probe } = await probeDuring(t.url, async () => {
        const response = await ask(t, ALONE);
        return {
          status: response.status,
          body: (await response.json()) as { error: { code: string; message: string } },
        };
      });
      console.log(describeProbe(`an upstream sending ${what}`, probe));
      expect(probe.failed).toBe(0);
      const { status, body } = result;
      const grewMb = (process.memoryUsage().rss - rssBefore) / MB;
      console.log(`RSS grew ${grewMb.toFixed(1)} MB while refusing ${what}`);
      expect(status).toBe(502);
      expect(body.error.code).toBe('invalid_response');
      expect(body.error.message).toMatch(/longer than 1048576 characters/);
      // Before: 1.6-1.8 GB for a 64 MB line. Now the attempt stops at 1 MB of it.
      expect(grewMb).toBeLessThan(256);
    },
  );

  it('an oversized frame fails over to the next model like any invalid response', async () => {
    fake.enqueue(() => ({ status: 200, headers: SSE_HEADERS, steps: endlessLine(8 * MB) }));
    const result = await readSse(await ask(t, WITH_FALLBACK));
    expect(result.status).toBe(200);
    expect(result.headers.get('x-circuit-breaker-model')).toBe('simulated/echo');
    expect(contentOf(result)).toBe('Hi');
    expect(result.events.at(-1)?.data).toBe('[DONE]');
  });

  it.each([
    [
      'keepalive comments every 50 ms',
      Array.from({ length: 400 }, (): WireStep[] => [{ write: ': keepalive\n\n' }, { delayMs: 50 }]).flat(),
    ],
    ['a line dripped a byte every 50 ms', [{ drip: `data: ${'x'.repeat(400)}`, bytes: 1, everyMs: 50 }]],
  ])(
    'after the first token, %s (no content) end the stream at progress_timeout with an error frame',
    async (_what, after) => {
      fake.enqueue(firstTokenThen(after));
      const started = performance.now();
      const result = await readSse(await ask(t, ALONE));
      const tookMs = performance.now() - started;
      const frames = jsonFrames(result);
      expect(contentOf(result)).toBe('first ');
      const last = frames.at(-1) as { error?: { code: string; message: string } };
      expect(last.error?.code).toBe('provider_timeout');
      expect(last.error?.message).toMatch(/no content for 500 ms/);
      expect(result.events.at(-1)?.data).toBe('[DONE]');
      // The scripted trickle would have lasted 20 s; the stream ended at the progress timeout instead.
      console.log(`trickling upstream ended after ${tookMs.toFixed(0)} ms (progress_timeout 500 ms)`);
      // ... and the upstream connection was closed, not left trickling.
      await waitFor('the upstream request to be closed', () => fake.stats.clientAborts > 0);
    },
  );

  it('ends a completion that runs past max_stream_duration with a provider_timeout error', async () => {
    const slow = await startApp(
      { streaming: { error_handling: { max_stream_duration: '1s' } } },
      { providers: { simulated: { type: 'simulated', tokens_per_second: 20, first_token_delay: 0 } } },
    );
    try {
      const result = await readSse(await ask(slow, 'simulated/lorem', { max_tokens: 100_000 }));
      const last = jsonFrames(result).at(-1) as { error?: { code: string; message: string } };
      expect(contentOf(result).length).toBeGreaterThan(0);
      expect(last.error?.code).toBe('provider_timeout');
      expect(last.error?.message).toMatch(/max_stream_duration \(1000 ms\)/);
      expect(result.events.at(-1)?.data).toBe('[DONE]');
    } finally {
      await slow.close();
    }
  });
});
