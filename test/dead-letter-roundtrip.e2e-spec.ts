import OpenAI from 'openai';
import { openAiWire } from './fakes/openai.fake';
import { VendorFake } from './fakes/vendor-fake';
import { startApp, type TestApp, withModels } from './support/app';
import { TEST_KEY, TEST_TIMEOUTS } from './support/vendors';
import { waitFor } from './support/wait';

interface Letter {
  id: string;
  errorKind: string;
  errorMessage: string;
  attempts: Array<{ provider: string; model: string; code: string }>;
  chain: string[];
  request: { model: string; messages: Array<{ content: string }> };
  replays: Array<{ status: string; completionId?: string; provider?: string }>;
}

/**
 * The dead-letter round trip through the public API: a completion that ends in invalid_response (a malformed
 * upstream frame, on the only provider) is dead-lettered with its request and attempts; an admin lists it,
 * inspects it, and replays it once the upstream is healthy again.
 */
describe('dead-letter round trip', () => {
  let fake: VendorFake;
  let t: TestApp;
  const admin = {}; // auth is off here: the admin role is tested in auth.e2e-spec.ts

  beforeAll(async () => {
    fake = await new VendorFake(openAiWire).start();
    t = await startApp(
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

  const list = async (query = '') => {
    const response = await fetch(`${t.url}/admin/dead-letters${query}`, { headers: admin });
    expect(response.status).toBe(200);
    return (await response.json()) as { data: Letter[]; total: number };
  };

  it('a malformed answer is dead-lettered; an admin inspects it and replays it to success, once', async () => {
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    fake.malformedMidStream({});
    const failed = await client.chat.completions
      .create({ model: 'up/model', stream: true, messages: [{ role: 'user', content: 'please replay me' }] })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(failed).toMatchObject({ status: 502, code: 'invalid_response' });

    await waitFor('the dead letter', async () => (await list('?kind=invalid_response')).total === 1);
    const [summary] = (await list('?provider=up')).data;
    const one = await fetch(`${t.url}/admin/dead-letters/${summary!.id}`, { headers: admin });
    const letter = ((await one.json()) as { data: Letter }).data;
    expect(letter).toMatchObject({
      errorKind: 'invalid_response',
      chain: ['up/model'],
      attempts: [{ provider: 'up', model: 'up/model', code: 'invalid_response' }],
      request: { model: 'up/model', messages: [{ content: 'please replay me' }] },
      replays: [],
    });
    expect(JSON.stringify(letter)).not.toContain(TEST_KEY);
    expect((await list('?kind=connection_lost')).total).toBe(0);

    // The upstream is healthy again: the replay succeeds and is recorded on the letter.
    const replay = async () => {
      const response = await fetch(`${t.url}/admin/dead-letters/${letter.id}/replay`, {
        method: 'POST',
        headers: admin,
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { data: { replayed: boolean; outcome: Letter['replays'][number] } })
        .data;
    };
    const first = await replay();
    expect(first).toMatchObject({ replayed: true, outcome: { status: 'succeeded', provider: 'up' } });
    expect(fake.lastRequest?.body).toMatchObject({
      messages: [{ role: 'user', content: 'please replay me' }],
    });

    // Idempotent: a second replay returns the recorded success and sends nothing upstream.
    const sent = fake.requests.length;
    const second = await replay();
    expect(second).toEqual({ ...first, replayed: false });
    expect(fake.requests).toHaveLength(sent);

    const after = await fetch(`${t.url}/admin/dead-letters/${letter.id}`, { headers: admin });
    expect(((await after.json()) as { data: Letter }).data.replays).toEqual([
      expect.objectContaining({ status: 'succeeded', completionId: first.outcome.completionId }),
    ]);
    expect((await list()).total).toBe(1);

    // A replay that fails again records the failure on the letter, and makes no second letter.
    fake.malformedMidStream({});
    fake.malformedMidStream({});
    const other = await client.chat.completions
      .create({ model: 'up/model', messages: [{ role: 'user', content: 'fails twice' }] })
      .catch((err: unknown) => err);
    expect(other).toMatchObject({ status: 502 });
    await waitFor('the second letter', async () => (await list()).total === 2);
    const failing = (await list()).data.find((l) => l.request.messages[0]?.content === 'fails twice')!;
    const res = await fetch(`${t.url}/admin/dead-letters/${failing.id}/replay`, {
      method: 'POST',
      headers: admin,
    });
    expect(
      ((await res.json()) as { data: { outcome: { status: string; error?: { code: string } } } }).data,
    ).toMatchObject({
      outcome: { status: 'failed', error: { code: 'invalid_response' } },
    });
    expect((await list()).total).toBe(2);
  });
});
