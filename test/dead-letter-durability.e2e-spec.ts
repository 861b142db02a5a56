import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { openAiWire } from './fakes/openai.fake';
import { VendorFake } from './fakes/vendor-fake';
import { type AppProcess, startAppProcess } from './support/app-process';
import { probeDuring } from './support/probe';
import { RedisServerProcess } from './support/redis';
import { testPrefix } from './support/redis-prefix';
import { jsonFrames, postJson, readSse } from './support/sse-client';
import { waitFor } from './support/wait';

/** Requests of each kind fired at once per run (the issue lost 147 of 222). */
const REST_REQUESTS = 120;
const SSE_REQUESTS = 120;
const TOTAL = REST_REQUESTS + SSE_REQUESTS;
const MODEL = 'openai/gpt-durability'; // allow_any_model: any openai/<name> goes to the fake

interface ErrorBody {
  error?: { code?: string; dead_letter_id?: string };
}

/** What one client heard back: the dead letter its error named, if any. */
interface Answer {
  kind: 'rest' | 'sse';
  status: number;
  code?: string;
  deadLetterId?: string;
  /** SSE: content arrived before the error frame (the failure came mid-stream). */
  streamed?: boolean;
}

/**
 * Dead letters are durable before the client hears of the failure: with Redis down, the spool line is
 * fdatasynced before the 502 (REST) or the error frame (SSE) leaves. The real service runs as a child process on
 * its own redis-server; Redis is stopped, a burst of completions fails on a fake upstream, and the service is
 * killed with SIGKILL the moment the last answer arrives (and, in a second run, halfway through the answers).
 * Redis and the service then start again on the same spool: every letter a client was told about must reach the
 * queue. Counts are printed.
 */
describe('dead letters durable across kill -9 during a Redis outage', () => {
  let redis: RedisServerProcess;
  let fake: VendorFake;
  let dir: string;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    redis = await RedisServerProcess.start();
    fake = await new VendorFake(openAiWire, { record: false }).start();
  });
  afterAll(async () => {
    await redis.stop();
    await fake.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cb-dl-durable-'));
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) {
      app.child.kill('SIGKILL');
      await app.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function boot(spool: string, prefix: string): Promise<AppProcess> {
    const app = await startAppProcess({
      NODE_ENV: 'development',
      REDIS_URL: redis.url,
      OPENAI_BASE_URL: `${fake.url}/v1`,
      OPENAI_API_KEY: 'sk-test-durability-0123456789',
      CB__REDIS__KEY_PREFIX: prefix,
      CB__REDIS__CONNECT_TIMEOUT: '500ms',
      CB__STREAMING__ERROR_HANDLING__DEAD_LETTER_SPOOL: spool,
      CB__STREAMING__ERROR_HANDLING__MAX_RETRIES: '0',
      // Every request fails: keep the circuit closed so that each one reaches the upstream and is dead-lettered.
      CB__STREAMING__ERROR_HANDLING__CIRCUIT_BREAKER_MIN_REQUESTS: '1000000',
      CB__AUTH__RATE_LIMITS__ENABLED: 'false',
    });
    apps.push(app);
    return app;
  }

  const adminStatus = async (app: AppProcess) =>
    (await fetch(`${app.url}/admin/dead-letters?limit=1`).catch(() => undefined))?.status;

  async function rest(app: AppProcess, i: number): Promise<Answer> {
    const res = await postJson(`${app.url}/v1/chat/completions`, {
      model: MODEL,
      messages: [{ role: 'user', content: `[fake:error=server] rest ${i}` }],
    });
    const body = (await res.json()) as ErrorBody;
    return {
      kind: 'rest',
      status: res.status,
      code: body.error?.code,
      deadLetterId: body.error?.dead_letter_id,
    };
  }

  async function sse(app: AppProcess, i: number): Promise<Answer> {
    const res = await postJson(`${app.url}/v1/chat/completions`, {
      model: MODEL,
      stream: true,
      messages: [{ role: 'user', content: `[fake:mid-error=server] streamed ${i}` }],
    });
    const frames = jsonFrames(await readSse(res)) as Array<ErrorBody & { choices?: unknown[] }>;
    const error = frames.find((frame) => frame.error !== undefined)?.error;
    if (!error) throw new Error('the stream ended without an error frame (cut by the kill)');
    return {
      kind: 'sse',
      status: res.status,
      code: error.code,
      deadLetterId: error.dead_letter_id,
      streamed: frames.some((frame) => frame.choices !== undefined),
    };
  }

  /**
   * Fires every request at once and sends SIGKILL to the service the moment the `killAt`-th answer arrives.
   * Answers are what the clients read in full; requests cut by the kill are counted apart.
   */
  async function burstThenKill(app: AppProcess, killAt: number) {
    const answers: Answer[] = [];
    let cut = 0;
    const onAnswer = (answer: Answer) => {
      answers.push(answer);
      if (answers.length === killAt) app.child.kill('SIGKILL');
    };
    const requests = [
      ...Array.from({ length: REST_REQUESTS }, (_, i) => () => rest(app, i)),
      ...Array.from({ length: SSE_REQUESTS }, (_, i) => () => sse(app, i)),
    ];
    // A liveness probe while the burst runs (shown, not asserted; it fails once the app is killed).
    const { probe } = await probeDuring(app.url, () =>
      Promise.all(requests.map((request) => request().then(onAnswer, () => void cut++))),
    );
    return { answers, cut, probes: probe.answered };
  }

  async function queued(prefix: string, ids: string[]): Promise<{ present: Set<string>; waiting: number }> {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const present = new Set<string>();
      for (const id of ids)
        if ((await client.exists(`${prefix}bull:dead-letters:${id}`)) === 1) present.add(id);
      return { present, waiting: await client.llen(`${prefix}bull:dead-letters:wait`) };
    } finally {
      client.disconnect();
    }
  }

  /**
   * One round on a service connected to Redis: Redis stops, the burst runs and the service is killed at the
   * `killAt`-th answer; then Redis (empty) and the service start again on the same spool, which drains.
   */
  async function round(app: AppProcess, spool: string, prefix: string, label: string, killAt: number) {
    await redis.stop();
    await waitFor('the service to see Redis gone', async () => (await adminStatus(app)) === 503, 10_000);

    const started = Date.now();
    const { answers, cut, probes } = await burstThenKill(app, killAt);
    const burstMs = Date.now() - started;
    expect((await app.exited).signal).toBe('SIGKILL');

    const told = answers.flatMap((a) => (a.deadLetterId === undefined ? [] : [a.deadLetterId]));
    const lines = (path: string) =>
      existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
    const spooledLines = lines(spool).length;

    await redis.start(); // empty (no persistence): whatever reaches the queue now comes from the spool
    const restarted = await boot(spool, prefix);
    await waitFor(
      'the spool drained into the restarted Redis',
      async () =>
        !existsSync(spool) && !existsSync(`${spool}.draining`) && (await adminStatus(restarted)) === 200,
      30_000,
    );
    const { present, waiting } = await queued(prefix, told);
    const lost = told.filter((id) => !present.has(id));
    const bad = lines(`${spool}.bad`);
    console.log(
      `${label}: ${TOTAL} requests, ${answers.length} answered in ${burstMs} ms (${told.length} naming a dead ` +
        `letter), ${cut} cut by the kill; ${spooledLines} lines in the spool after kill -9, ${waiting} letters ` +
        `in the queue after the restart, ${lost.length} told letters lost, ${bad.length} bad lines; ` +
        `/health/live answered ${probes} probes during the burst`,
    );
    return { restarted, answers, told, lost, waiting, spooledLines, bad };
  }

  it('loses no letter a client was told about: kill -9 at the last answer, then mid-traffic', async () => {
    const prefix = testPrefix('cbtest-durable');
    const spool = join(dir, 'dl.spool.ndjson');
    const app = await boot(spool, prefix);
    await waitFor('the service connected to Redis', async () => (await adminStatus(app)) === 200, 10_000);

    const last = await round(app, spool, prefix, 'kill -9 at the last answer', TOTAL);
    expect(last.answers).toHaveLength(TOTAL);
    for (const answer of last.answers) {
      // REST: the 502 error JSON; SSE: the error frame ending a 200 stream that had begun.
      const status = answer.kind === 'rest' ? 502 : 200;
      expect(answer).toMatchObject({ status, code: 'provider_error', deadLetterId: expect.any(String) });
    }
    expect(last.answers.filter((a) => a.kind === 'sse' && a.streamed === true)).toHaveLength(SSE_REQUESTS);
    expect(new Set(last.told).size).toBe(TOTAL);
    expect(last.lost).toEqual([]);
    expect(last.spooledLines).toBe(TOTAL);
    expect(last.waiting).toBe(TOTAL); // one letter per failed request: none lost, none doubled
    expect(last.bad).toEqual([]);

    // Again on the restarted service, killed while half the answers are still to come.
    const mid = await round(last.restarted, spool, prefix, 'kill -9 mid-traffic', TOTAL / 2);
    expect(mid.answers.length).toBeGreaterThanOrEqual(TOTAL / 2);
    for (const answer of mid.answers) expect(answer.deadLetterId).toEqual(expect.any(String));
    expect(mid.lost).toEqual([]);
    // Letters made durable whose answers the kill cut off may be there too; nothing beyond the requests sent.
    expect(mid.waiting).toBeGreaterThanOrEqual(mid.told.length);
    expect(mid.waiting).toBeLessThanOrEqual(TOTAL);
  }, 300_000);
});
