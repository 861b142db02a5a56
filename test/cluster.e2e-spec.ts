import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { type AppProcess, startAppProcess } from './support/app-process';
import { postSse } from './support/hub-cluster';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { waitFor } from './support/wait';

/** One request on a fresh connection (the primary hands each connection to the next worker). */
function chat(url: string, content: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/v1/chat/completions`,
      { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, agent: false },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'simulated/echo', messages: [{ role: 'user', content }] }));
  });
}

/** The JSON log lines of one message. */
function linesOf(app: AppProcess, msg: string): Array<Record<string, unknown>> {
  return app
    .logs()
    .split('\n')
    .filter((line) => line.includes(`"msg":"${msg}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A /metrics counter's value summed over its label sets that match `labels`. */
function counter(text: string, name: string, labels: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** streaming.performance.worker_threads: the real process as a node:cluster primary with two workers. */
describe('worker_threads: a cluster of workers sharing the port', () => {
  const prefix = testPrefix();
  const dir = mkdtempSync(join(tmpdir(), 'cb-cluster-'));
  let app: AppProcess;

  beforeAll(async () => {
    app = await startAppProcess(
      {
        CB__STREAMING__PERFORMANCE__WORKER_THREADS: '2',
        CB__REDIS__KEY_PREFIX: prefix,
        CB__STREAMING__ERROR_HANDLING__DEAD_LETTER_SPOOL: join(dir, 'letters.ndjson'),
        CB__PROVIDERS__SIMULATED__TOKENS_PER_SECOND: '200',
        CB__PROVIDERS__SIMULATED__FIRST_TOKEN_DELAY: '0ms',
      },
      { keepLogs: true },
    );
    // Both workers listen on the one port the primary holds.
    await waitFor(
      'both workers to listen',
      () => linesOf(app, 'Circuit Breaker is listening').length >= 2,
      30_000,
    );
  }, 60_000);

  afterAll(async () => {
    app?.child.kill('SIGKILL');
    await app?.exited;
    await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots two workers on one port', () => {
    const listening = linesOf(app, 'Circuit Breaker is listening');
    expect(listening.map((l) => l.worker).sort()).toEqual([1, 2]);
    expect(new Set(listening.map((l) => l.url))).toEqual(new Set([app.url]));
    expect(linesOf(app, 'starting the workers')).toEqual([expect.objectContaining({ workers: 2 })]);
  });

  it('spreads connections over both workers, and /metrics counts every worker', async () => {
    const before = await (await fetch(`${app.url}/metrics`)).text();
    const route = 'route="/v1/chat/completions",status="200"';
    const already = counter(before, 'cb_http_requests_total', route);
    const served = linesOf(app, 'completion finished').length;
    for (let i = 0; i < 12; i++) {
      const res = await chat(app.url, `hello ${i}`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ choices: [{ message: { content: `hello ${i}` } }] });
    }
    await waitFor('12 completions logged', () => linesOf(app, 'completion finished').length >= served + 12);
    const workers = linesOf(app, 'completion finished')
      .slice(served)
      .map((l) => l.worker);
    expect(new Set(workers)).toEqual(new Set([1, 2]));
    // Whichever worker answers the scrape, it holds both workers' counts.
    for (let i = 0; i < 2; i++) {
      const text = await (await fetch(`${app.url}/metrics`, { headers: { connection: 'close' } })).text();
      expect(counter(text, 'cb_http_requests_total', route) - already).toBe(12);
    }
  });

  it('streams over SSE and /ws/stream through the workers', async () => {
    const sse = await postSse(`${app.url}/v1/chat/completions`, {
      model: 'simulated/echo',
      stream: true,
      messages: [{ role: 'user', content: 'one two three' }],
    });
    const { events } = await sse.done;
    expect(events.at(-1)?.data).toBe('[DONE]');

    const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws/stream`);
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send(
      JSON.stringify({
        type: 'completion',
        id: 'c1',
        model: 'simulated/echo',
        messages: [{ role: 'user', content: 'over the socket' }],
      }),
    );
    await waitFor('the completion to end', () =>
      messages.some((m) => m.type === 'completed' || m.type === 'error'),
    );
    ws.close();
    expect(messages.find((m) => m.type === 'completed')).toBeDefined();
  });

  it('replaces a worker that dies, in the same slot', async () => {
    const listening = linesOf(app, 'Circuit Breaker is listening');
    const pid = Number(listening.find((l) => l.worker === 2)?.pid ?? 0);
    const victim = pid > 0 ? pid : undefined;
    expect(victim).toBeDefined();
    process.kill(victim!, 'SIGKILL');
    await waitFor(
      'a worker to be started in slot 2',
      () => linesOf(app, 'Circuit Breaker is listening').some((l) => l.worker === 2 && l.pid !== victim),
      30_000,
    );
    expect(linesOf(app, 'worker died; starting another')).toEqual([
      expect.objectContaining({ worker: 2, pid: victim, signal: 'SIGKILL' }),
    ]);
    for (let i = 0; i < 4; i++) expect((await chat(app.url, 'still here')).status).toBe(200);
  }, 40_000);

  it('on SIGTERM every worker drains its streams, then the primary exits 0', async () => {
    const sse = await postSse(`${app.url}/v1/chat/completions`, {
      model: 'simulated/lorem',
      stream: true,
      max_tokens: 60,
      messages: [{ role: 'user', content: 'a short answer' }],
    });
    await sse.atLeast(2);
    app.child.kill('SIGTERM');
    const { events } = await sse.done;
    // The stream in flight ended with its completion or the drain's error, never cut.
    expect(events.at(-1)?.data).toBe('[DONE]');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(linesOf(app, 'every worker has stopped')).toHaveLength(1);
  }, 40_000);
});
