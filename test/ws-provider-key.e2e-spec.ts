import type { VendorFake } from './fakes/vendor-fake';
import { logCollector, startAppWith, type TestApp } from './support/app';
import { OPENAI_CASES, startFake, vendorLayer } from './support/vendors';
import { WsTestClient } from './support/ws-client';

/**
 * The WebSocket edge brings the caller's own provider key like the X-Provider-Key header does: the
 * `providerKey` field of a `completion` message, a bare key or `provider=key` pairs, validated the same way,
 * never logged or echoed.
 */
describe('WebSocket completion with providerKey', () => {
  const vendor = OPENAI_CASES[0]!;
  const model = `${vendor.name}/test-model`;
  const bareKey = 'sk-ws-byok-bare-0123456789abcdef';
  const pairKey = 'sk-ws-byok-pair-0123456789abcdef';
  const logs = logCollector();
  let fake: VendorFake;
  let t: TestApp;
  const clients: WsTestClient[] = [];
  const connect = async () => {
    const client = await WsTestClient.connect(t.url);
    clients.push(client);
    return client;
  };
  const ask = (client: WsTestClient, id: string, extra: Record<string, unknown> = {}) =>
    client.send({ type: 'completion', id, model, messages: [{ role: 'user', content: 'Hi' }], ...extra });

  beforeAll(async () => {
    fake = await startFake(vendor);
    // The provider has no configured key: only the caller's own can open it.
    t = await startAppWith({ logSink: logs.sink }, vendorLayer(vendor, fake, { apiKey: null }), {
      server: { host: '127.0.0.1', log_level: 'debug' },
      auth: { mode: 'none' },
    });
  });
  beforeEach(() => fake.reset());
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('serves a completion with the key in the message, bare or as provider=key pairs', async () => {
    const client = await connect();
    for (const [id, providerKey, sent] of [
      ['bare', bareKey, bareKey],
      ['pairs', `other=nope, ${vendor.name}=${pairKey}`, pairKey],
    ] as const) {
      fake.reply({ text: ['mine'], usage: { prompt: 1, completion: 1 } });
      ask(client, id, { providerKey });
      expect(await client.end(id)).toMatchObject({ type: 'completed', provider: vendor.name, model });
      expect(client.contentOf(id)).toBe('mine');
      vendor.checkStreamRequest(fake.lastRequest!, sent);
    }
  });

  it('fails with provider_key_missing without one, before any upstream call', async () => {
    const client = await connect();
    ask(client, 'nokey');
    expect(await client.end('nokey')).toMatchObject({
      type: 'error',
      id: 'nokey',
      error: { code: 'provider_key_missing' },
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('refuses a malformed providerKey as the header is refused, naming the field, never echoing it', async () => {
    const client = await connect();
    const bad = `${bareKey}\u0007`;
    ask(client, 'bad', { providerKey: bad });
    const end = await client.end('bad');
    expect(end).toMatchObject({
      type: 'error',
      id: 'bad',
      error: { code: 'invalid_request', param: 'providerKey' },
    });
    expect(JSON.stringify(end)).not.toContain(bareKey);
    ask(client, 'typed', { providerKey: 42 });
    expect(await client.end('typed')).toMatchObject({
      error: { code: 'invalid_message', param: 'providerKey' },
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('never writes the key to the logs', () => {
    const all = JSON.stringify(logs.lines);
    expect(logs.lines.some((line) => line.msg === 'completion finished')).toBe(true);
    expect(all).not.toContain(bareKey);
    expect(all).not.toContain(pairKey);
  });
});
