import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { StreamMultiplexer } from '../src/ws/multiplexer/stream-multiplexer.service';
import { ActiveStreams } from '../src/streaming/active-streams.service';
import { startApp, type TestApp, withModels } from './support/app';
import { describeProbe, probeDuring } from './support/probe';
import { openSocket, rawRequest, readAnswer } from './support/raw-http';
import { postJson } from './support/sse-client';
import { WsTestClient } from './support/ws-client';
import { waitFor } from './support/wait';

/**
 * What a client can do to a node, and what it gets: slow requests are cut off, one address cannot take every
 * connection, malformed input gets a 4xx in OpenAI's shape (never a 500 or a raw parser answer), and a
 * WebSocket peer that stops reading costs a bounded amount and is let go.
 */
const USER = [{ role: 'user', content: 'Hi' }];
type OpenAiError = { error: { message: string; type: string; param: string | null; code: string } };

const parse = (body: string) => JSON.parse(body) as OpenAiError;

describe('client limits', () => {
  describe('slow clients', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp({
        server: { headers_timeout: '1s', request_timeout: '1s', max_connections_per_ip: 0 },
      });
    });
    afterAll(() => t.close());

    it('drip-fed bodies and headers are answered 408 and closed; the node keeps answering meanwhile', async () => {
      const { result: results, probe } = await probeDuring(t.url, async () => {
        const sockets: Socket[] = [];
        const answers: Array<Promise<{ status: number; code: string }>> = [];
        for (let i = 0; i < 100; i++) {
          const socket = await openSocket(t.url);
          socket.on('error', () => undefined);
          const body = i % 2 === 0;
          socket.write(
            body
              ? 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{'
              : 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ',
          );
          // One byte every 200 ms, for as long as the server keeps the socket open.
          const drip = setInterval(() => socket.writable && socket.write(' '), 200);
          socket.once('close', () => clearInterval(drip));
          sockets.push(socket);
          answers.push(
            readAnswer(socket, 15_000).then((a) => ({ status: a.status, code: parse(a.body).error.code })),
          );
        }
        const all = await Promise.all(answers);
        await waitFor('every drip-fed socket to be closed', () => sockets.every((s) => s.destroyed), 10_000);
        return all;
      });
      console.log(describeProbe('100 drip-fed requests (request_timeout 1s)', probe));
      expect(probe.failed).toBe(0);
      expect(results).toHaveLength(100);
      for (const result of results) expect(result).toEqual({ status: 408, code: 'invalid_request' });
    });

    it('a body that arrives in time is served, however slowly it was sent', async () => {
      const socket = await openSocket(t.url);
      const body = JSON.stringify({ model: 'simulated/echo', messages: USER });
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      const answer = readAnswer(socket);
      for (const piece of [body.slice(0, 10), body.slice(10, 20), body.slice(20)]) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        socket.write(piece);
      }
      const result = await answer;
      expect(result.status).toBe(200);
      socket.destroy();
    });
  });

  describe('connections per client address', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp({ server: { max_connections_per_ip: 8 } });
    });
    afterAll(() => t.close());

    it('past max_connections_per_ip, HTTP and WebSocket requests get 429 in OpenAI shape; closing frees the slots', async () => {
      const idle = await Promise.all(Array.from({ length: 8 }, () => openSocket(t.url)));
      const refused = await rawRequest(t.url, 'GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(refused.status).toBe(429);
      expect(refused.headers.connection).toBe('close');
      expect(parse(refused.body).error).toMatchObject({
        code: 'too_many_connections',
        type: 'rate_limit_error',
      });
      await refused.whenClosed;

      const upgrade = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${t.url.replace('http', 'ws')}/ws/stream`);
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => reject(new Error('the upgrade was accepted')));
        ws.once('error', () => undefined);
      });
      expect(upgrade).toBe(429);

      for (const socket of idle) socket.destroy();
      await waitFor(
        'a slot to be free again',
        async () => (await fetch(`${t.url}/health/live`).catch(() => undefined))?.status === 200,
      );
    });
  });

  describe('malformed input', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp();
    });
    afterAll(() => t.close());

    const deepJson = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

    it.each([
      [
        '/v1/chat/completions',
        `{"model":"simulated/echo","messages":[{"role":"user","content":"x"}],"metadata":${deepJson(5_000)}}`,
      ],
      ['/v1/workflows', deepJson(5_000)],
      ['/v1/chat/completions', `[${'['.repeat(20_000)}${']'.repeat(20_000)}]`],
    ])('JSON nested thousands of levels deep to %s -> 400, not a stack overflow', async (path, body) => {
      const response = await postJson(`${t.url}${path}`, body);
      const error = (await response.json()) as OpenAiError;
      expect(response.status).toBe(400);
      expect(error.error.message).toMatch(/deeper than 64 levels/);
    });

    it('on /graphql the same refusals are GraphQL error bodies (deep JSON, a refused Origin)', async () => {
      const deep = await postJson(
        `${t.url}/graphql`,
        `{"query":"{ __typename }","extensions":${deepJson(5_000)}}`,
      );
      expect(deep.status).toBe(400);
      expect(await deep.json()).toEqual({
        errors: [
          {
            message: expect.stringMatching(/deeper than 64 levels/),
            extensions: { code: 'INVALID_REQUEST' },
          },
        ],
      });
      const cors = await postJson(
        `${t.url}/graphql`,
        { query: '{ __typename }' },
        { headers: { origin: 'https://evil.example' } },
      );
      expect(cors.status).toBe(403);
      expect(
        ((await cors.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions
          .code,
      ).toBe('FORBIDDEN');
    });

    it('a model id with CR/LF -> 400 on POST and on the EventSource GET form, never reaching a header', async () => {
      const post = await postJson(`${t.url}/v1/chat/completions`, {
        model: 'simulated/echo\r\nx-injected: 1',
        messages: USER,
      });
      expect(post.status).toBe(400);
      expect(((await post.json()) as OpenAiError).error).toMatchObject({
        param: 'model',
        code: 'invalid_request',
      });
      const query = new URLSearchParams({ model: 'simulated/echo\r\nx', messages: JSON.stringify(USER) });
      const get = await fetch(`${t.url}/v1/chat/completions/stream?${query.toString()}`);
      expect(get.status).toBe(400);
      expect(get.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await get.json()) as OpenAiError).error.param).toBe('model');
    });

    it.each([
      [{ messages: [[[]]] }, 'messages[0]'],
      [{ messages: USER, tools: [[[]]] }, 'tools[0]'],
      [
        { messages: [{ role: 'assistant', content: null, tool_calls: [['x']] }] },
        'messages[0].tool_calls[0]',
      ],
    ])('%j -> 400 naming %s', async (fields, param) => {
      const response = await postJson(`${t.url}/v1/chat/completions`, { model: 'simulated/echo', ...fields });
      expect(response.status).toBe(400);
      expect(((await response.json()) as OpenAiError).error.param).toBe(param);
    });

    it('a top-level null means "not given": stop: null and max_tokens: null answer normally', async () => {
      const response = await postJson(`${t.url}/v1/chat/completions`, {
        model: 'simulated/echo',
        messages: [{ role: 'user', content: 'echo me' }],
        stop: null,
        max_tokens: null,
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
      expect(body.choices[0]!.message.content).toBe('echo me');
    });

    it('/ws/stream: a deeply nested completion gets invalid_request, not internal_error', async () => {
      const client = await WsTestClient.connect(t.url);
      client.send(
        `{"type":"completion","id":"deep","model":"simulated/echo","messages":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      );
      const error = await client.end('deep');
      expect(error).toMatchObject({ type: 'error', error: { code: 'invalid_request' } });
      await client.close();
    });

    it.each([
      ['a request that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'invalid_request'],
      [
        'headers over max_header_size',
        `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
        'request_too_large',
      ],
      [
        'an Expect other than 100-continue',
        'GET /health/live HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n',
        417,
        'invalid_request',
      ],
      [
        'a WebSocket upgrade to an unknown path',
        'GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        404,
        'not_found',
      ],
    ])('%s -> its status with an OpenAI error body', async (_what, bytes, status, code) => {
      const answer = await rawRequest(t.url, bytes);
      expect(answer.status).toBe(status);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(parse(answer.body).error).toMatchObject({ code, param: null });
      expect(typeof parse(answer.body).error.message).toBe('string');
    });

    it('an event stream answers Connection: close to a client that asked for it, and closes after', async () => {
      const query = new URLSearchParams({ model: 'simulated/echo', messages: JSON.stringify(USER) });
      const closing = await rawRequest(
        t.url,
        `GET /v1/chat/completions/stream?${query.toString()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(closing.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(closing.headers.connection).toBe('close');
      expect(closing.body).toContain('data: [DONE]');
      await closing.whenClosed;
      const keeping = await rawRequest(
        t.url,
        `GET /v1/chat/completions/stream?${query.toString()} HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      expect(keeping.headers.connection).toBe('keep-alive');
    });
  });

  describe('a WebSocket peer that never reads', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp(
        {
          streaming: {
            // The terminated peers' completions end with them (no resume grace for clients that never read).
            hub: { orphan_grace: '0s' },
            protocols: { websocket: { ping_interval: '2s', message_buffer_size: '64KB' } },
          },
        },
        { providers: { simulated: { type: 'simulated', tokens_per_second: 5_000, first_token_delay: 0 } } },
        withModels([], {
          id: 'test/lorem-long',
          provider: 'simulated',
          upstream: 'lorem',
          options: { length: 5_000 },
        }),
      );
    });
    afterAll(() => t.close());

    it('costs a bounded amount (its completions pause) and is terminated when it misses a ping', async () => {
      const rssBefore = process.memoryUsage().rss;
      const peers = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const client = await WsTestClient.connect(t.url);
          (client.socket as unknown as { _socket: Socket })._socket.pause();
          for (let i = 0; i < 32; i++) {
            client.send({ type: 'completion', id: `c${i}`, model: 'test/lorem-long', messages: USER });
          }
          return client;
        }),
      );
      const mux = t.app.get(StreamMultiplexer);
      let peakRss = rssBefore;
      let peakCompletions = 0;
      // The peers answer no ping: each is terminated, and its completions end with it.
      await waitFor(
        'the peers to be terminated',
        () => {
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
          peakCompletions = Math.max(peakCompletions, mux.stats().completions);
          return mux.stats().connections === 0;
        },
        20_000,
      );
      await waitFor('their completions to end', () => t.app.get(ActiveStreams).size === 0, 10_000);
      const grewMb = (peakRss - rssBefore) / 1024 / 1024;
      console.log(
        `10 WebSocket peers that never read (${peakCompletions} completions live at most): RSS grew ${grewMb.toFixed(1)} MB at most`,
      );
      expect(peakCompletions).toBeGreaterThan(0);
      expect(grewMb).toBeLessThan(256);
      for (const client of peers) client.socket.terminate();
    }, 40_000);
  });
});
