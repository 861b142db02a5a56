import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { startApp, withModels } from './support/app';
import { jsonFrames, postJson, readSseFromFirstEvent } from './support/sse-client';
import { waitFor } from './support/wait';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { bearer, TEST_JWT_SECRET, token } from './support/auth';

const slowModel = {
  id: 'test/slow',
  provider: 'simulated',
  upstream: 'lorem',
  options: { tokens_per_second: 20, length: 400 },
};
const shortModel = {
  id: 'test/short',
  provider: 'simulated',
  upstream: 'lorem',
  options: { tokens_per_second: 40, length: 12 },
};
const body = (model: string) => ({ model, messages: [{ role: 'user', content: 'go' }], stream: true });

describe('graceful shutdown', () => {
  it('fails readiness, refuses new work, and ends streams past the drain timeout with an error frame', async () => {
    const t = await startApp(withModels([], slowModel), { server: { shutdown: { drain_timeout: '400ms' } } });
    const streaming = postJson(`${t.url}/v1/chat/completions`, body('test/slow'));
    const res = await streaming;
    const { firstEvent, done: reading } = readSseFromFirstEvent(res);
    await firstEvent;

    const closing = t.close();
    const ready = await fetch(`${t.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      status: 'error',
      error: { node: { status: 'down', phase: 'refusing' } },
    });
    const refused = await postJson(`${t.url}/v1/chat/completions`, body('simulated/echo'));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({
      error: { code: 'service_unavailable', type: 'server_error' },
    });

    const sse = await reading;
    const last = sse.events.slice(-2).map((e) => e.data);
    expect(last[1]).toBe('[DONE]');
    expect(JSON.parse(last[0]!)).toEqual({
      error: {
        message: 'The server is shutting down and ended this stream before it completed; retry the request.',
        type: 'server_error',
        param: null,
        code: 'service_unavailable',
      },
    });
    expect(jsonFrames(sse).length).toBeGreaterThan(3);
    await closing;
  });

  it('lets a stream that finishes within the drain timeout complete normally', async () => {
    const t = await startApp(withModels([], shortModel), { server: { shutdown: { drain_timeout: '10s' } } });
    const res = await postJson(`${t.url}/v1/chat/completions`, body('test/short'));
    const { firstEvent, done: reading } = readSseFromFirstEvent(res);
    await firstEvent;
    const closing = t.close();
    const sse = await reading;
    const frames = jsonFrames(sse) as Array<{ choices: Array<{ finish_reason: string | null }> }>;
    expect(frames[frames.length - 1]?.choices[0]?.finish_reason).toBe('stop');
    expect(sse.events[sse.events.length - 1]?.data).toBe('[DONE]');
    await closing;
  });

  describe('the real process on SIGTERM', () => {
    let child: ChildProcess | undefined;
    const prefix = testPrefix();
    afterEach(async () => {
      child?.kill('SIGKILL');
      await deleteKeys(prefix);
    });

    it('drains, ends the open stream with an error frame and exits', async () => {
      child = spawn(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', join(__dirname, '..', 'src', 'main.ts')],
        {
          env: {
            ...process.env,
            NODE_ENV: 'production',
            // Production does not boot without authentication.
            CB__AUTH__MODE: 'jwt',
            CB_JWT_SECRET: TEST_JWT_SECRET,
            PORT: '0',
            HOST: '127.0.0.1',
            LOG_LEVEL: 'info',
            CB__STREAMING__PERFORMANCE__WORKER_THREADS: '1',
            // Off in production unless enabled explicitly.
            CB__PROVIDERS__SIMULATED__ENABLED: 'true',
            CB__PROVIDERS__SIMULATED__TOKENS_PER_SECOND: '20',
            CB__PROVIDERS__SIMULATED__FIRST_TOKEN_DELAY: '0ms',
            CB__SERVER__SHUTDOWN__DRAIN_TIMEOUT: '500ms',
            CB__REDIS__KEY_PREFIX: prefix,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child!.once('exit', (code, signal) => resolve({ code, signal })),
      );
      let logs = '';
      const url = await new Promise<string>((resolve, reject) => {
        child!.stdout!.on('data', (chunk: Buffer) => {
          logs += chunk.toString();
          const match = /"url":"(http:\/\/[^"]+)".*"msg":"Circuit Breaker is listening"/.exec(logs);
          if (match) resolve(match[1]!.replace('[::1]', '127.0.0.1'));
        });
        child!.once('exit', () => reject(new Error(`server exited before listening:\n${logs}`)));
      });

      const res = await postJson(
        `${url}/v1/chat/completions`,
        {
          model: 'simulated/lorem',
          messages: [{ role: 'user', content: 'a long answer' }],
          max_tokens: 200,
          stream: true,
        },
        { headers: bearer(token()) },
      );
      const { firstEvent, done: reading } = readSseFromFirstEvent(res);
      await firstEvent;
      child.kill('SIGTERM');
      await waitFor(
        'readiness to fail',
        async () => (await fetch(`${url}/health/ready`).catch(() => null))?.status === 503,
      );

      const sse = await reading;
      expect(sse.events.slice(-2).map((e) => e.data)).toEqual([
        expect.stringContaining('"code":"service_unavailable"'),
        '[DONE]',
      ]);
      const exit = await exited;
      expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
      expect(logs).toContain('"msg":"drain timeout: ending remaining streams with an error"');
    }, 30_000);

    it('refuses to start in production without authentication, saying why', async () => {
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1' };
      delete env.CB__AUTH__MODE;
      child = spawn(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', join(__dirname, '..', 'src', 'main.ts')],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child!.once('exit', resolve));
      expect(code).toBe(1);
      expect(stderr).toContain(
        'auth.mode: production (NODE_ENV=production) does not run without authentication',
      );
    }, 30_000);
  });
});
