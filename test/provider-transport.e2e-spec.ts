import { freePort } from './support/redis';
import { openAiWire } from './fakes/openai.fake';
import { VendorFake } from './fakes/vendor-fake';
import { startApp, type TestApp } from './support/app';
import { contentOf, postJson, readSse } from './support/sse-client';
import { OPENAI_CASES, vendorLayer } from './support/vendors';

/** Transport cases the per-vendor suite does not cover: nothing listening, and a JSON answer to a stream. */
describe('upstream transport', () => {
  const vendor = OPENAI_CASES[0]!;
  let fake: VendorFake;
  let t: TestApp;

  beforeAll(async () => {
    fake = await new VendorFake(openAiWire).start();
    t = await startApp(vendorLayer(vendor, fake));
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('a refused connection is connection_lost (502), before any stream starts', async () => {
    const closed = await freePort();
    const app = await startApp(vendorLayer(vendor, { url: `http://127.0.0.1:${closed}` }));
    try {
      const response = await postJson(`${app.url}/v1/chat/completions`, {
        model: 'openai/test-model',
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(response.status).toBe(502);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('connection_lost');
      expect(body.error.message).toContain('ECONNREFUSED');
    } finally {
      await app.close();
    }
  });

  it('streams a whole JSON answer from a server that ignored stream: true', async () => {
    fake.enqueue((request) => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      steps: [{ write: JSON.stringify(openAiWire.json({ text: ['whole ', 'answer'] }, request)) }],
    }));
    const result = await readSse(
      await postJson(`${t.url}/v1/chat/completions`, {
        model: 'openai/test-model',
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    );
    expect(contentOf(result)).toBe('whole answer');
    expect(result.events.at(-1)?.data).toBe('[DONE]');
  });
});
