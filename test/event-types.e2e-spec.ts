import type { VendorFake } from './fakes/vendor-fake';
import { startApp, type TestApp } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import { contentOf, deltasOf, postJson, readSse } from './support/sse-client';
import { OPENAI_CASES, startFake, vendorLayer } from './support/vendors';
import { WsTestClient } from './support/ws-client';

/**
 * A token's `event_types` claim: CompletionService drops the event types it does not allow for every edge
 * (terminal events always pass), here SSE and the WebSocket, against the same thinking-then-answer turn.
 */
describe('allowed event types of a token, on every streaming edge', () => {
  const vendor = OPENAI_CASES[0]!;
  const model = `${vendor.name}/test-model`;
  const turn = { thinking: ['Let me ', 'think.'], text: ['Answer.'], usage: { prompt: 4, completion: 9 } };
  const request = { model, reasoning: { effort: 'low' }, messages: [{ role: 'user', content: 'Hi' }] };
  const narrow = token({ sub: 'narrow', event_types: ['content_chunk'] });
  const full = token({ sub: 'full' });
  let fake: VendorFake;
  let t: TestApp;

  beforeAll(async () => {
    fake = await startFake(vendor);
    t = await startApp(vendorLayer(vendor, fake), jwtAuth(), { server: { host: '127.0.0.1' } });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('SSE: reasoning deltas reach only a token that allows them', async () => {
    const reasoningOf = async (jwt: string) => {
      fake.reply(turn);
      const result = await readSse(
        await postJson(
          `${t.url}/v1/chat/completions`,
          { ...request, stream: true },
          { headers: bearer(jwt) },
        ),
      );
      expect(contentOf(result)).toBe('Answer.');
      return deltasOf(result)
        .map((d) => d.reasoning ?? '')
        .join('');
    };
    expect(await reasoningOf(full)).toBe('Let me think.');
    expect(await reasoningOf(narrow)).toBe('');
  });

  it('WebSocket: thinking_status reaches only a token that allows it; completed always does', async () => {
    const typesOf = async (jwt: string) => {
      fake.reply(turn);
      const client = await WsTestClient.connect(t.url, { headers: bearer(jwt) });
      try {
        client.send({ type: 'completion', id: 'a', ...request });
        expect(await client.end('a')).toMatchObject({ type: 'completed' });
        expect(client.contentOf('a')).toBe('Answer.');
        return [...new Set(client.of('a').map((m) => m.type))];
      } finally {
        await client.close();
      }
    };
    expect(await typesOf(full)).toEqual(['thinking_status', 'content_chunk', 'completed']);
    expect(await typesOf(narrow)).toEqual(['content_chunk', 'completed']);
  });
});
