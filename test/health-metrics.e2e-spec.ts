import { Writable } from 'node:stream';
import { createApp } from '../src/app.factory';
import { createRootLogger } from '../src/app.logger';
import { loadConfig } from '../src/config/config.loader';
import { startApp, withModels } from './support/app';
import { postJson, readSse } from './support/sse-client';

describe('health probes', () => {
  it('reports live and ready with Redis up', async () => {
    const t = await startApp();
    try {
      const live = await fetch(`${t.url}/health/live`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
      const ready = await fetch(`${t.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: 'ok',
        info: {
          node: { status: 'up', phase: 'serving' },
          redis: { status: 'up', latencyMs: expect.any(Number) },
        },
      });
    } finally {
      await t.close();
    }
  });

  it('boots and streams with Redis down; readiness says so with 503', async () => {
    const t = await startApp({
      redis: { url: 'redis://127.0.0.1:1', health_timeout: '300ms', connect_timeout: '200ms' },
    });
    try {
      const ready = await fetch(`${t.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        status: 'error',
        info: { node: { status: 'up' } },
        error: { redis: { status: 'down', message: expect.any(String) } },
      });
      expect((await fetch(`${t.url}/health/live`)).status).toBe(200);
      const res = await postJson(`${t.url}/v1/chat/completions`, {
        model: 'simulated/echo',
        messages: [{ role: 'user', content: 'still here' }],
        stream: true,
      });
      const sse = await readSse(res);
      expect(sse.events[sse.events.length - 1]?.data).toBe('[DONE]');
      expect(sse.raw).toContain('"content":" here"');
    } finally {
      await t.close();
    }
  });
});

describe('/metrics', () => {
  it('exposes process defaults and the service metrics after traffic', async () => {
    const t = await startApp(
      withModels([], {
        id: 'test/broken',
        provider: 'simulated',
        upstream: 'echo',
        options: { fail_after_chunks: 1 },
      }),
    );
    try {
      await readSse(
        await postJson(`${t.url}/v1/chat/completions`, {
          model: 'echo',
          messages: [{ role: 'user', content: 'a b' }],
          stream: true,
        }),
      );
      await readSse(
        await postJson(`${t.url}/v1/chat/completions`, {
          model: 'test/broken',
          messages: [{ role: 'user', content: 'a b' }],
          stream: true,
        }),
      );
      await postJson(`${t.url}/v1/chat/completions`, {
        model: 'nope',
        messages: [{ role: 'user', content: 'x' }],
      });
      const res = await fetch(`${t.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      for (const line of [
        /^process_cpu_seconds_total \d/m,
        /^cb_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} [1-9]/m,
        /^cb_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="404"\} [1-9]/m,
        /^cb_active_streams\{protocol="sse"\} 0$/m,
        /^cb_time_to_first_token_seconds_count\{provider="simulated",model="simulated\/echo"\} [1-9]/m,
        /^cb_stream_duration_seconds_count\{protocol="sse",outcome="completed"\} [1-9]/m,
        /^cb_stream_chunks_sent_total\{protocol="sse"\} [1-9]/m,
        /^cb_stream_bytes_sent_total\{protocol="sse"\} [1-9]\d{2,}/m,
        /^cb_stream_errors_total\{protocol="sse",code="connection_lost"\} [1-9]/m,
        /^cb_provider_requests_total\{provider="simulated",outcome="error"\} [1-9]/m,
      ]) {
        expect(text).toMatch(line);
      }
    } finally {
      await t.close();
    }
  });

  it('is not served when metrics are disabled', async () => {
    const t = await startApp({ streaming: { monitoring: { metrics_enabled: false } } });
    try {
      expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
    } finally {
      await t.close();
    }
  });
});

describe('structured logs', () => {
  it('carry the request id on every line and never secrets, prompts or the Redis password', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const config = loadConfig({
      env: {},
      overrides: [
        {
          server: { port: 0, host: '127.0.0.1', log_level: 'debug' },
          redis: {
            url: 'redis://admin:hunter2-redis@127.0.0.1:1',
            connect_timeout: '100ms',
            health_timeout: '200ms',
          },
          providers: { simulated: { type: 'simulated', tokens_per_second: 0, first_token_delay: 0 } },
        },
      ],
    });
    const app = await createApp(config, { logger: createRootLogger(config, sink) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.getHttpServer().address() as { port: number };
    const base = `http://127.0.0.1:${port}`;
    try {
      const query = new URLSearchParams({
        model: 'echo',
        messages: JSON.stringify([{ role: 'user', content: 'my private prompt' }]),
      });
      await readSse(
        await fetch(`${base}/v1/chat/completions/stream?${query.toString()}`, {
          headers: { 'x-request-id': 'req-get-1' },
        }),
      );
      await postJson(
        `${base}/v1/chat/completions`,
        { model: 'echo', messages: [{ role: 'user', content: 'another private prompt' }] },
        { headers: { authorization: 'Bearer sk-live-abcdef123456', 'x-request-id': 'req-post-1' } },
      );
      await fetch(`${base}/health/ready`);
    } finally {
      await app.close();
    }
    const all = JSON.stringify(lines);
    expect(all).not.toContain('hunter2-redis');
    expect(all).not.toContain('sk-live-abcdef123456');
    expect(all).not.toMatch(/private(\s|\+|%20)prompt/);
    const byRequest = lines.filter((l) => l.request_id === 'req-get-1');
    expect(byRequest.map((l) => l.msg)).toEqual([
      'incoming request',
      'completion finished',
      'request completed',
    ]);
    expect(byRequest[0]).toMatchObject({
      req: { method: 'GET', path: '/v1/chat/completions/stream', query_keys: ['model', 'messages'] },
    });
    expect(byRequest[1]).toMatchObject({
      protocol: 'sse',
      outcome: 'completed',
      model: 'simulated/echo',
      usage: { completionTokens: 3 },
    });
    expect(lines.filter((l) => l.request_id === 'req-post-1').map((l) => l.msg)).toEqual([
      'incoming request',
      'completion finished',
      'request completed',
    ]);
    expect(lines.some((l) => l.msg === 'Redis unavailable')).toBe(true);
  });
});
