import type { IncomingMessage } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { StreamMultiplexer } from '../src/ws/multiplexer/stream-multiplexer.service';
import { ActiveStreams } from '../src/streaming/active-streams.service';
import { UpgradeRouter } from '../src/ws/upgrade-router';
import { startApp, type TestApp, withModels } from './support/app';
import { rawText, WsTestClient } from './support/ws-client';
import { sleep, waitFor } from './support/wait';

const SLOW_ECHO = {
  id: 'test/echo-slow',
  provider: 'simulated',
  upstream: 'echo',
  options: { tokens_per_second: 100 },
};
const SLOW_LOREM = {
  id: 'test/lorem-slow',
  provider: 'simulated',
  upstream: 'lorem',
  options: { tokens_per_second: 50, length: 5000 },
};
const user = (content: string) => [{ role: 'user', content }];

/** `/ws/stream` on a real port, with the `ws` client. */
describe('WebSocket /ws/stream', () => {
  let t: TestApp;
  let mux: StreamMultiplexer;
  const clients: WsTestClient[] = [];
  const connect = async () => {
    const client = await WsTestClient.connect(t.url);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    t = await startApp(withModels([], SLOW_ECHO, SLOW_LOREM), {
      server: { body_limit: '64KB' },
      // A closed socket's completions are cancelled at once here (no resume grace), as the registry checks need.
      streaming: {
        hub: { orphan_grace: '0s' },
        protocols: { websocket: { max_completions_per_connection: 12 } },
      },
    });
    mux = t.app.get(StreamMultiplexer);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(() => t.close());

  it('runs ten completions at once on one socket, interleaved, each reassembled exactly', async () => {
    const client = await connect();
    const prompts = Array.from(
      { length: 10 },
      (_, i) => `completion number ${i} says ${'word '.repeat(8 + i)}`,
    );
    prompts.forEach((prompt, i) =>
      client.send({
        type: 'completion',
        id: `c${i}`,
        model: 'test/echo-slow',
        messages: user(prompt.trim()),
      }),
    );
    const ends = await Promise.all(prompts.map((_, i) => client.end(`c${i}`)));
    ends.forEach((end, i) =>
      expect(end).toMatchObject({
        type: 'completed',
        id: `c${i}`,
        completionId: expect.stringMatching(/^chatcmpl-[0-9a-f]{32}$/) as string,
        seq: expect.any(Number) as number,
        finishReason: 'stop',
        model: 'test/echo-slow',
        provider: 'simulated',
        usage: { completionTokens: expect.any(Number) as number },
      }),
    );
    prompts.forEach((prompt, i) => expect(client.contentOf(`c${i}`)).toBe(prompt.trim()));
    // Interleaved: another completion's chunk arrives between the first and last chunk of c0.
    const order = client.messages.filter((m) => m.type === 'content_chunk').map((m) => m.id);
    const first = order.indexOf('c0');
    const last = order.lastIndexOf('c0');
    expect(order.slice(first, last).some((id) => id !== 'c0')).toBe(true);
    await waitFor('the registry to empty', () => mux.stats().completions === 0);
  });

  it('cancel aborts the upstream generation and ends that completion only', async () => {
    const client = await connect();
    client.send({
      type: 'completion',
      id: 'long',
      model: 'test/lorem-slow',
      max_tokens: 5000,
      messages: user('x'),
    });
    client.send({ type: 'completion', id: 'short', model: 'test/echo-slow', messages: user('still here') });
    await client.next('a chunk of long', (m) => m.id === 'long' && m.type === 'content_chunk');
    client.send({ type: 'cancel', id: 'long' });
    expect(await client.end('long')).toMatchObject({ type: 'error', error: { code: 'cancelled' } });
    expect(await client.end('short')).toMatchObject({ type: 'completed' });
    expect(client.contentOf('short')).toBe('still here');
    await waitFor('no stream left', () => t.app.get(ActiveStreams).size === 0);
    // The id is free again: cancelling it now is an unknown completion.
    client.send({ type: 'cancel', id: 'long' });
    expect(
      await client.next(
        'the refusal',
        (m) => m.type === 'error' && (m.error as { code: string }).code === 'unknown_completion',
      ),
    ).toMatchObject({ id: 'long' });
  });

  it('closing the socket detaches its completions (cancelled at once with orphan_grace 0) and forgets everything it registered', async () => {
    const client = await connect();
    client.send({ type: 'subscribe', streams: ['completion', 'agent_status'] });
    client.send({ type: 'subscribe_workflow', workflowId: 'content_creation' });
    for (let i = 0; i < 3; i++)
      client.send({
        type: 'completion',
        id: `l${i}`,
        model: 'test/lorem-slow',
        max_tokens: 5000,
        messages: user('x'),
      });
    await waitFor('three live completions', () => mux.stats().completions === 3);
    expect(mux.stats()).toMatchObject({ workflows: 1, agentSubscribers: 1, completionSubscribers: 1 });
    await client.close();
    await waitFor('the registries to empty', () => {
      const s = mux.stats();
      return Object.values(s).every((size) => size === 0);
    });
    await waitFor('the upstreams aborted', () => t.app.get(ActiveStreams).size === 0);
  });

  it('answers ping, acknowledges subscriptions, and reports every bad input while other streams carry on', async () => {
    const client = await connect();
    client.send({
      type: 'completion',
      id: 'survivor',
      model: 'test/lorem-slow',
      max_tokens: 60,
      messages: user('x'),
    });
    client.send({ type: 'ping' });
    client.send({ type: 'subscribe', streams: ['workflow'] });
    // A shipped definition (every run of it, live); acknowledged once the follow has started.
    client.send({ type: 'subscribe_workflow', workflowId: 'content_creation' });
    await client.next('the follow', (m) => m.type === 'subscribed' && (m.workflows as string[]).length === 1);
    client.send({ type: 'unsubscribe_workflow', workflowId: 'content_creation' });
    const bad: Array<[unknown, string, string?]> = [
      ['not json', 'invalid_message'],
      [[1, 2], 'invalid_message'],
      [{ kind: 'ping' }, 'unknown_type', 'type'],
      [{ type: 'launch' }, 'unknown_type', 'type'],
      [{ type: 'subscribe', streams: ['everything'] }, 'invalid_message', 'streams'],
      [{ type: 'completion', model: 'echo', messages: user('x') }, 'invalid_message', 'id'],
      [{ type: 'completion', id: 'b1', model: 'echo', messages: [] }, 'invalid_request', 'messages'],
      [
        { type: 'completion', id: 'b2', model: 'echo', temperature: 'hot', messages: user('x') },
        'invalid_request',
        'temperature',
      ],
      [{ type: 'completion', id: 'b3', model: 'nope/nope', messages: user('x') }, 'model_not_found', 'model'],
      [{ type: 'completion', id: 'survivor', model: 'echo', messages: user('x') }, 'duplicate_id', 'id'],
      [{ type: 'cancel', id: 'ghost' }, 'unknown_completion', 'id'],
      [{ type: 'ping', padding: 'x'.repeat(70 * 1024) }, 'message_too_large'],
    ];
    for (const [message] of bad) client.send(message);
    client.socket.send(Buffer.from('{"type":"ping"}'), { binary: true });

    await waitFor(
      'every error',
      () => client.messages.filter((m) => m.type === 'error').length >= bad.length + 1,
    );
    const errors = client.messages.filter((m) => m.type === 'error') as unknown as Array<{
      error: { code: string; param?: string };
    }>;
    bad.forEach(([, code, param], i) => {
      expect(errors[i]?.error.code).toBe(code);
      if (param) expect(errors[i]?.error.param).toBe(param);
    });
    expect(errors[bad.length]?.error.code).toBe('invalid_message'); // the binary frame
    expect(client.messages.filter((m) => m.type === 'pong')).toHaveLength(1);
    expect(client.messages.filter((m) => m.type === 'subscribed').map((m) => m.workflows)).toEqual([
      [],
      ['content_creation'],
      [],
    ]);
    await client.next('survivor to complete', (m) => m.id === 'survivor' && m.type === 'completed');
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('limits completions per connection', async () => {
    const limited = await startApp(withModels([], SLOW_LOREM), {
      streaming: {
        hub: { orphan_grace: '0s' }, // the closed sockets' completions end at once, so the app closes quickly
        protocols: { websocket: { max_completions_per_connection: 2, max_connections: 2 } },
      },
    });
    const mine: WsTestClient[] = [];
    try {
      const client = await WsTestClient.connect(limited.url);
      mine.push(client);
      for (const id of ['a', 'b', 'c'])
        client.send({
          type: 'completion',
          id,
          model: 'test/lorem-slow',
          max_tokens: 500,
          messages: user('x'),
        });
      expect(await client.next('the refusal', (m) => m.id === 'c')).toMatchObject({
        type: 'error',
        error: { code: 'too_many_completions' },
      });

      // max_connections: 2 — the third connection is told why and closed with 1013 (try again later).
      mine.push(await WsTestClient.connect(limited.url));
      const third = await WsTestClient.connect(limited.url);
      mine.push(third);
      expect(await third.closed).toBe(1013);
      expect(third.messages).toEqual([
        { type: 'error', error: { code: 'too_many_connections', message: expect.any(String) as string } },
      ]);
    } finally {
      await Promise.all(mine.map((c) => c.close()));
      await limited.close();
    }
  });

  it('terminates a peer that stops answering pings, and keeps one that answers', async () => {
    const beating = await startApp({ streaming: { protocols: { websocket: { ping_interval: '100ms' } } } });
    try {
      const silent = await WsTestClient.connect(beating.url, { autoPong: false });
      const healthy = await WsTestClient.connect(beating.url);
      expect(await silent.closed).toBe(1006);
      await sleep(300);
      expect(healthy.socket.readyState).toBe(WebSocket.OPEN);
      await healthy.close();
      await waitFor(
        'the registry to empty',
        () => beating.app.get(StreamMultiplexer).stats().connections === 0,
      );
    } finally {
      await beating.close();
    }
  });

  it('pauses a slow consumer instead of buffering: sending stops while it does not read, and resumes intact', async () => {
    const slow = await startApp(
      withModels([], {
        id: 'test/lorem-long',
        provider: 'simulated',
        upstream: 'lorem',
        // 60,000 words: several times what loopback's socket buffers take in (~30,000 messages, a few MB)
        // before the send buffer passes the budget, yet done in seconds on a busy machine.
        options: { length: 60_000 },
      }),
      { streaming: { protocols: { websocket: { message_buffer_size: '16KB' } } } },
    );
    try {
      const client = await WsTestClient.connect(slow.url);
      const raw = (client.socket as unknown as { _socket: Socket })._socket;
      raw.pause();
      client.send({
        type: 'completion',
        id: 'big',
        model: 'test/lorem-long',
        max_tokens: 400_000,
        messages: user('x'),
      });
      const sent = async () => {
        const text = await (await fetch(`${slow.url}/metrics`)).text();
        return Number(/cb_stream_chunks_sent_total\{protocol="ws"\} (\d+)/.exec(text)?.[1] ?? 0);
      };
      // Wait until sending has stalled (the socket buffers filled up), then check it stays stalled.
      let before = -1;
      await waitFor(
        'sending to stall',
        async () => {
          const now = await sent();
          const stalled = now === before && now > 0;
          before = now;
          if (!stalled) await sleep(100);
          return stalled;
        },
        30_000,
      );
      await sleep(300);
      expect(await sent()).toBe(before);
      expect(client.messages.some((m) => m.type === 'completed')).toBe(false);
      // Paused, not finished: the completion is still live, its upstream not read on.
      expect(slow.app.get(ActiveStreams).size).toBe(1);

      raw.resume();
      const end = await client.end('big', 60_000);
      expect(end).toMatchObject({ type: 'completed' });
      // Nothing was lost or reordered while paused: the same request on a reading client gives the same text.
      const reader = await WsTestClient.connect(slow.url);
      reader.send({
        type: 'completion',
        id: 'big',
        model: 'test/lorem-long',
        max_tokens: 400_000,
        messages: user('x'),
      });
      await reader.end('big', 60_000);
      expect(client.contentOf('big')).toBe(reader.contentOf('big'));
      expect(client.contentOf('big').length).toBeGreaterThan(64 * 1024);
      await Promise.all([client.close(), reader.close()]);
    } finally {
      await slow.close();
    }
  }, 180_000);

  it('1,000 connect/disconnect cycles leave every registry empty', async () => {
    for (let i = 0; i < 1000; i++) {
      const client = await WsTestClient.connect(t.url);
      if (i % 50 === 0) {
        client.send({ type: 'subscribe', streams: ['agent_status'] });
        client.send({ type: 'subscribe_workflow', workflowId: 'content_creation' });
        client.send({
          type: 'completion',
          id: 'c',
          model: 'test/lorem-slow',
          max_tokens: 500,
          messages: user('x'),
        });
        await client.next(
          'the ack',
          (m) => m.type === 'subscribed' && (m.workflows as string[]).length === 1,
        );
      }
      await client.close();
    }
    await waitFor('the registries to empty', () => {
      const s = mux.stats();
      return Object.values(s).every((size) => size === 0);
    });
    await waitFor('no stream left', () => t.app.get(ActiveStreams).size === 0);
  }, 60_000);

  it('routes upgrades for other paths to their own servers, and refuses those nobody owns with 404', async () => {
    const refused = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${t.url.replace('http', 'ws')}/elsewhere`);
      socket.on('unexpected-response', (_req, res: IncomingMessage) => resolve(res.statusCode ?? 0));
      socket.on('open', () => reject(new Error('opened')));
      socket.on('error', () => undefined);
    });
    expect(refused).toBe(404);

    // A client that resets right after asking to upgrade an unknown path must not take the process down.
    for (let i = 0; i < 20; i++) {
      const { hostname, port } = new URL(t.url);
      const raw = tcpConnect(Number(port), hostname);
      raw.on('error', () => undefined);
      raw.write(
        'GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      raw.resetAndDestroy();
    }
    await sleep(100);

    // Another WebSocket server routed on the same port (as graphql-ws is on /graphql): both work at once.
    const other = new WebSocketServer({ noServer: true });
    other.on('connection', (socket: WebSocket) => socket.send('hello from /other'));
    const router = UpgradeRouter.for(t.app.getHttpServer());
    router.route('/other', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      other.handleUpgrade(request, socket, head, (ws: WebSocket) => other.emit('connection', ws, request)),
    );
    try {
      const greeting = await new Promise<string>((resolve, reject) => {
        const socket = new WebSocket(`${t.url.replace('http', 'ws')}/other?x=1`);
        socket.on('message', (data: WebSocket.RawData) => {
          resolve(rawText(data));
          socket.close();
        });
        socket.on('error', reject);
      });
      expect(greeting).toBe('hello from /other');
      const client = await connect();
      client.send({ type: 'ping' });
      await client.next('pong', (m) => m.type === 'pong');
    } finally {
      router.unroute('/other');
      other.close();
    }
  });

  it('at shutdown, drains and then closes sockets with 1001 (going away)', async () => {
    const app = await startApp();
    const client = await WsTestClient.connect(app.url);
    client.send({ type: 'ping' });
    await client.next('pong', (m) => m.type === 'pong');
    await app.close();
    expect(await client.closed).toBe(1001);
  });
});
