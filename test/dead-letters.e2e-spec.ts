import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { StreamErrorCode } from '../src/contract/error-code';
import type { ConfigLayer } from '../src/config/config.loader';
import type { DeadLetter, ReplayOutcome } from '../src/dead-letter/dead-letter';
import { DeadLetterService } from '../src/dead-letter/dead-letter.service';
import { type LetterSpec, newLetter } from '../src/dead-letter/testing/dead-letters';
import { startApp, type TestApp } from './support/app';
import { hasRedisServer, RedisServerProcess } from './support/redis';
import { deleteKeys, REDIS_URL as SHARED_REDIS_URL, testPrefix } from './support/redis-prefix';
import { simulatedOf } from './support/simulated';
import { waitFor } from './support/wait';
import { jwtAuth, token } from './support/auth';

interface ApiResponse<T> {
  status: number;
  body: T;
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface Page {
  data: DeadLetter[];
  total: number;
  limit: number;
  offset: number;
}

interface ReplayBody {
  data: { deadLetterId: string; outcome: ReplayOutcome; replayed: boolean };
}

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 12, minute)).toISOString();

describe('dead letters: BullMQ storage and the /admin/dead-letters API', () => {
  let prefix: string;
  let spoolDir: string;
  let t: TestApp | undefined;

  beforeEach(() => {
    prefix = testPrefix('cbtest-dl');
    spoolDir = mkdtempSync(join(tmpdir(), 'cb-dl-'));
  });

  afterEach(async () => {
    await t?.close();
    t = undefined;
    await deleteKeys(prefix);
    rmSync(spoolDir, { recursive: true, force: true });
  });

  async function boot(...overrides: ConfigLayer[]): Promise<TestApp> {
    t = await startApp(
      {
        redis: { key_prefix: prefix },
        streaming: { error_handling: { dead_letter_spool: join(spoolDir, 'dl.spool.ndjson') } },
      },
      ...overrides,
    );
    return t;
  }

  /** Records a letter the way the completion path does and waits until it is stored. */
  async function record(app: TestApp, spec: LetterSpec = {}): Promise<string> {
    const service = app.app.get(DeadLetterService);
    const id = service.record(newLetter(spec));
    await service.settled();
    return id;
  }

  async function api<T>(
    app: TestApp,
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${app.url}/admin/dead-letters${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  const ids = (letters: Array<{ id: string }>) => letters.map((l) => l.id);

  it('lists letters newest first, pages them, filters by kind, provider and time, and shows one', async () => {
    const app = await boot();
    const a = await record(app, {
      kind: StreamErrorCode.ProviderTimeout,
      providers: ['openai'],
      failedAt: at(1),
    });
    const b = await record(app, {
      kind: StreamErrorCode.RateLimitExceeded,
      providers: ['openai', 'anthropic'],
      failedAt: at(2),
    });
    // Recorded last but failed first: the list is in failure order, not queue order.
    const c = await record(app, {
      kind: StreamErrorCode.ProviderTimeout,
      providers: ['google'],
      failedAt: at(0),
    });
    const d = await record(app, {
      kind: StreamErrorCode.ConnectionLost,
      providers: ['simulated'],
      failedAt: at(3),
    });

    const all = await api<Page>(app, 'GET', '');
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ total: 4, limit: 50, offset: 0 });
    expect(ids(all.body.data)).toEqual([d, b, a, c]);

    const page = await api<Page>(app, 'GET', '?limit=2&offset=1');
    expect(page.body).toMatchObject({ total: 4, limit: 2, offset: 1 });
    expect(ids(page.body.data)).toEqual([b, a]);

    expect(ids((await api<Page>(app, 'GET', '?kind=provider_timeout')).body.data)).toEqual([a, c]);
    expect(ids((await api<Page>(app, 'GET', '?provider=openai')).body.data)).toEqual([b, a]);
    expect(ids((await api<Page>(app, 'GET', '?provider=anthropic')).body.data)).toEqual([b]);
    const window = await api<Page>(app, 'GET', `?since=${at(1)}&until=${at(2)}`);
    expect(window.body).toMatchObject({ total: 2 });
    expect(ids(window.body.data)).toEqual([b, a]);
    expect(ids((await api<Page>(app, 'GET', `?since=${at(2)}&kind=connection_lost`)).body.data)).toEqual([d]);

    const one = await api<{ data: DeadLetter }>(app, 'GET', `/${b}`);
    expect(one.status).toBe(200);
    expect(one.body.data).toMatchObject({
      id: b,
      errorKind: 'rate_limit_exceeded',
      request: { model: 'simulated/echo', messages: [{ role: 'user', content: 'hello' }] },
      attempts: [{ provider: 'openai' }, { provider: 'anthropic' }],
      chain: ['simulated/echo'],
      failedAt: at(2),
      replays: [],
    });

    for (const missing of ['dl-0123456789abcdef0123456789abcdef', 'nope']) {
      const res = await api<ErrorBody>(app, 'GET', `/${missing}`);
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'not_found', type: 'invalid_request_error' });
    }

    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/^cb_dead_letters_total\{kind="provider_timeout",stored="queue"\} [1-9]/m);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=501', 'limit'],
    ['limit=ten', 'limit'],
    ['offset=-1', 'offset'],
    ['kind=exploded', 'kind'],
    ['since=yesterday', 'since'],
    [`since=${at(5)}&until=${at(1)}`, 'since'],
    ['kind=provider_error&kind=bad_request', 'kind'],
    ['colour=blue', 'colour'],
  ])('refuses the query %s with 400 naming %s', async (query, param) => {
    const app = await boot();
    const res = await api<ErrorBody>(app, 'GET', `?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param });
  });

  it('stores letters without configured secrets or key-shaped strings in messages', async () => {
    const app = await boot({ providers: { openai: { api_key: 'sk-configured-for-test-123' } } });
    const service = app.app.get(DeadLetterService);
    const letter = newLetter({ prompt: 'uses sk-configured-for-test-123 in a prompt' });
    letter.errorMessage = 'openai: Incorrect API key provided: sk-configured-for-test-123';
    letter.request.metadata = { api_key: 'sk-whatever-else-999', trace: 't-1' };
    const id = service.record(letter);
    await service.settled();

    const raw = new Redis(SHARED_REDIS_URL);
    try {
      const stored = await raw.hget(`${prefix}bull:dead-letters:${id}`, 'data');
      expect(stored).toContain('[redacted]');
      expect(stored).not.toContain('sk-configured-for-test-123');
      expect(stored).not.toContain('sk-whatever-else-999');
    } finally {
      raw.disconnect();
    }
    const { body } = await api<{ data: DeadLetter }>(app, 'GET', `/${id}`);
    expect(body.data.errorMessage).toBe('openai: Incorrect API key provided: [redacted]');
    expect(body.data.request.messages[0]!.content).toBe('uses [redacted] in a prompt');
    expect(body.data.request.metadata).toEqual({ api_key: '[redacted]', trace: 't-1' });
  });

  it('replays a letter once: a second replay returns the first outcome and runs nothing', async () => {
    const app = await boot();
    const id = await record(app, { prompt: 'say it again' });
    const simulated = simulatedOf(app);
    const before = simulated.stats.completed;

    const first = await api<ReplayBody>(app, 'POST', `/${id}/replay`);
    expect(first.status).toBe(200);
    expect(first.body.data).toEqual({
      deadLetterId: id,
      replayed: true,
      outcome: {
        at: expect.any(String),
        status: 'succeeded',
        completionId: expect.stringMatching(/^chatcmpl-/),
        provider: 'simulated',
        model: 'simulated/echo',
      },
    });
    expect(simulated.stats.completed).toBe(before + 1);

    const second = await api<ReplayBody>(app, 'POST', `/${id}/replay`);
    expect(second.status).toBe(200);
    expect(second.body.data).toEqual({ ...first.body.data, replayed: false });
    expect(simulated.stats.completed).toBe(before + 1);

    const { body } = await api<{ data: DeadLetter }>(app, 'GET', `/${id}`);
    expect(body.data.replays).toEqual([first.body.data.outcome]);

    const unknown = await api<ErrorBody>(app, 'POST', '/dl-0123456789abcdef0123456789abcdef/replay');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
  });

  it('records a failed replay (model_not_found) and lets the letter be replayed again', async () => {
    const app = await boot();
    const id = await record(app, { model: 'nope/nope' });

    const first = await api<ReplayBody>(app, 'POST', `/${id}/replay`);
    expect(first.status).toBe(200);
    expect(first.body.data).toMatchObject({
      deadLetterId: id,
      replayed: true,
      outcome: { status: 'failed', error: { code: 'model_not_found', message: expect.any(String) } },
    });
    expect(first.body.data.outcome.completionId).toBeUndefined();

    const again = await api<ReplayBody>(app, 'POST', `/${id}/replay`);
    expect(again.body.data).toMatchObject({ replayed: true, outcome: { status: 'failed' } });
    const { body } = await api<{ data: DeadLetter }>(app, 'GET', `/${id}`);
    expect(body.data.replays).toHaveLength(2);
    expect(body.data.replays.map((r) => r.error?.code)).toEqual(['model_not_found', 'model_not_found']);
  });

  it('replays the letters a filter selects in the background; outcomes appear on each letter', async () => {
    const app = await boot();
    const timeouts = [
      await record(app, { kind: StreamErrorCode.ProviderTimeout, prompt: 'one', failedAt: at(1) }),
      await record(app, { kind: StreamErrorCode.ProviderTimeout, prompt: 'two', failedAt: at(2) }),
      await record(app, { kind: StreamErrorCode.ProviderTimeout, prompt: 'three', failedAt: at(3) }),
    ];
    const other = await record(app, { kind: StreamErrorCode.ConnectionLost, failedAt: at(4) });

    const batch = await api<{ data: { queued: number; ids: string[] } }>(app, 'POST', '/replay', {
      kind: 'provider_timeout',
    });
    expect(batch.status).toBe(202);
    expect(batch.body.data.queued).toBe(3);
    expect([...batch.body.data.ids].sort()).toEqual([...timeouts].sort());

    const replaysOf = async (id: string) =>
      (await api<{ data: DeadLetter }>(app, 'GET', `/${id}`)).body.data.replays;
    await waitFor(
      'the batch outcomes',
      async () => (await Promise.all(timeouts.map(replaysOf))).every((r) => r.length === 1),
      10_000,
    );
    for (const id of timeouts) {
      expect(await replaysOf(id)).toEqual([
        expect.objectContaining({ status: 'succeeded', provider: 'simulated' }),
      ]);
    }
    expect(await replaysOf(other)).toEqual([]);

    // Already replayed successfully: neither queued again by a batch nor run again alone.
    const repeat = await api<{ data: { queued: number; ids: string[] } }>(app, 'POST', '/replay', {
      ids: [timeouts[0], other],
    });
    expect(repeat.body.data).toEqual({ queued: 1, ids: [other] });
    const single = await api<ReplayBody>(app, 'POST', `/${timeouts[1]}/replay`);
    expect(single.body.data.replayed).toBe(false);

    for (const bad of [
      { limit: 0 },
      { limit: 1001 },
      { ids: 'dl-x' },
      { ids: ['x'] },
      { colour: 'blue' },
      [1],
    ]) {
      const res = await api<ErrorBody>(app, 'POST', '/replay', bad);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
  });

  it('deletes a letter: 204, then 404', async () => {
    const app = await boot();
    const id = await record(app);
    const keep = await record(app);
    const deleted = await fetch(`${app.url}/admin/dead-letters/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect((await api(app, 'GET', `/${id}`)).status).toBe(404);
    expect((await api<ErrorBody>(app, 'DELETE', `/${id}`)).body.error.code).toBe('not_found');
    expect(ids((await api<Page>(app, 'GET', '')).body.data)).toEqual([keep]);
  });

  it('keeps at most dead_letter_queue_size letters, dropping the oldest', async () => {
    const app = await boot({ streaming: { error_handling: { dead_letter_queue_size: 3 } } });
    const recorded: string[] = [];
    for (let i = 0; i < 5; i++) recorded.push(await record(app, { prompt: `letter ${i}` }));
    let page: Page | undefined;
    await waitFor(
      'the queue trimmed to 3',
      async () => {
        page = (await api<Page>(app, 'GET', '')).body;
        return page.total === 3;
      },
      5_000,
    );
    expect(page!.data.map((l) => l.id).sort()).toEqual(recorded.slice(2).sort());
  });

  it('wants the admin role when auth is on', async () => {
    const app = await boot(jwtAuth());
    const id = await record(app);
    for (const [method, path] of [
      ['GET', ''],
      ['GET', `/${id}`],
      ['POST', `/${id}/replay`],
      ['POST', '/replay'],
      ['DELETE', `/${id}`],
    ] as const) {
      const res = await api<ErrorBody>(app, method, path);
      expect(res.status).toBe(401);
      expect(res.body.error).toMatchObject({ code: 'unauthorized', type: 'authentication_error' });
    }
    expect((await api(app, 'GET', '', undefined, 'wrong')).status).toBe(401);
    expect((await api(app, 'GET', '', undefined, token({ sub: 'user' }))).status).toBe(403);
    const ok = await api<Page>(app, 'GET', '', undefined, token({ sub: 'ops', roles: ['admin'] }));
    expect(ok.status).toBe(200);
    expect(ids(ok.body.data)).toEqual([id]);
  });
});

// These tests take Redis away from the app, so they run their own redis-server process, never the shared one.
const REDIS_SERVER = hasRedisServer();
const spoolSuite = REDIS_SERVER ? describe : describe.skip;
if (!REDIS_SERVER)
  process.stderr.write('dead-letters e2e: redis-server is not on PATH; the spool tests are skipped\n');

spoolSuite(
  `dead letters while Redis is away: the spool (own redis-server process)${REDIS_SERVER ? '' : ' [skipped: no redis-server on PATH]'}`,
  () => {
    let redis: RedisServerProcess;
    let spoolDir: string;
    let spoolPath: string;
    const apps: TestApp[] = [];

    beforeEach(async () => {
      redis = await RedisServerProcess.start();
      spoolDir = mkdtempSync(join(tmpdir(), 'cb-dl-spool-'));
      spoolPath = join(spoolDir, 'spool', 'dl.spool.ndjson');
    });

    afterEach(async () => {
      for (const app of apps.splice(0)) await app.close();
      await redis.stop();
      rmSync(spoolDir, { recursive: true, force: true });
    });

    async function boot(): Promise<TestApp> {
      const app = await startApp({
        redis: { url: redis.url, key_prefix: 'cbtest-dl-spool:', connect_timeout: '300ms' },
        streaming: { error_handling: { dead_letter_spool: spoolPath } },
      });
      apps.push(app);
      return app;
    }

    const spooledIds = (path: string) =>
      existsSync(path)
        ? readFileSync(path, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => (JSON.parse(line) as DeadLetter).id)
        : [];

    async function listedIds(app: TestApp): Promise<string[] | undefined> {
      const res = await fetch(`${app.url}/admin/dead-letters`);
      if (res.status !== 200) return undefined;
      return ((await res.json()) as Page).data.map((l) => l.id);
    }

    it('spools letters while Redis is down, answers 503, and moves them into BullMQ when it returns', async () => {
      const app = await boot();
      const service = app.app.get(DeadLetterService);
      await waitFor('the app connected to Redis', async () => (await listedIds(app)) !== undefined, 5_000);

      await redis.stop();
      await waitFor(
        'the app to notice Redis is gone',
        async () => (await listedIds(app)) === undefined,
        5_000,
      );
      const spooled = [
        service.record(newLetter({ prompt: 'first' })),
        service.record(newLetter({ prompt: 'second' })),
      ];
      await service.settled();
      expect(spooledIds(spoolPath).sort()).toEqual([...spooled].sort());
      expect(service.spooled).toBe(2);

      for (const path of ['', `/${spooled[0]}`]) {
        const res = await fetch(`${app.url}/admin/dead-letters${path}`);
        expect(res.status).toBe(503);
        expect(await res.json()).toMatchObject({
          error: {
            code: 'service_unavailable',
            type: 'server_error',
            message: expect.stringContaining('Redis'),
          },
        });
      }
      const replay = await fetch(`${app.url}/admin/dead-letters/${spooled[0]}/replay`, { method: 'POST' });
      expect(replay.status).toBe(503);
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(metrics).toMatch(/^cb_dead_letters_total\{kind="provider_error",stored="spool"\} [1-9]/m);

      await redis.start();
      let listed: string[] | undefined;
      await waitFor(
        'the spooled letters in BullMQ',
        async () => {
          listed = await listedIds(app);
          return listed !== undefined && listed.length === 2;
        },
        15_000,
      );
      expect([...listed!].sort()).toEqual([...spooled].sort());
      // The letters are listable as soon as they are added; the drained file goes right after.
      await waitFor('the drained spool to be removed', () => !existsSync(`${spoolPath}.draining`));
      expect(existsSync(spoolPath)).toBe(false);
      expect(service.spooled).toBe(0);
    }, 30_000);

    it('keeps spooled letters across a restart and drains them at boot, bad lines aside', async () => {
      await redis.stop();
      const first = await boot();
      const service = first.app.get(DeadLetterService);
      const spooled = [
        service.record(newLetter({ prompt: 'a' })),
        service.record(newLetter({ prompt: 'b' })),
      ];
      await service.settled();
      await first.close();
      apps.splice(apps.indexOf(first), 1);
      expect(spooledIds(spoolPath).sort()).toEqual([...spooled].sort());

      // What a crash mid-drain leaves: a draining file, here with one letter and one torn line.
      const crashed = {
        ...newLetter({ prompt: 'c' }),
        id: 'dl-0123456789abcdef0123456789abcdef',
        replays: [],
      };
      const torn = JSON.stringify(newLetter()).slice(0, 30);
      writeFileSync(`${spoolPath}.draining`, `${JSON.stringify(crashed)}\n${torn}\n`);

      await redis.start();
      const second = await boot();
      let listed: string[] | undefined;
      await waitFor(
        'the spooled letters in BullMQ after the restart',
        async () => {
          listed = await listedIds(second);
          return listed !== undefined && listed.length === 3;
        },
        15_000,
      );
      expect([...listed!].sort()).toEqual([...spooled, crashed.id].sort());
      expect(existsSync(spoolPath)).toBe(false);
      expect(existsSync(`${spoolPath}.draining`)).toBe(false);
      expect(readFileSync(`${spoolPath}.bad`, 'utf8')).toBe(`${torn}\n`);
    }, 30_000);
  },
);
