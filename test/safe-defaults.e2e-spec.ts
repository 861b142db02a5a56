import OpenAI from 'openai';
import { anthropicFake } from './fakes/anthropic.fake';
import { googleFake } from './fakes/google.fake';
import { openAiFake } from './fakes/openai.fake';
import type { VendorFake } from './fakes/vendor-fake';
import { type AppProcess, startAppProcess } from './support/app-process';
import { TEST_JWT_SECRET, token } from './support/auth';
import { deleteKeys, testPrefix } from './support/redis-prefix';

/** A ts-node boot of the real process, on a machine that may be busy. */
const BOOT_TIMEOUT = 60_000;

interface BootProvider {
  id: string;
  type: string;
  url?: string;
  ready: boolean;
}

/** The providers the "listening" line names, with the URL each one calls. */
function bootProviders(app: AppProcess): BootProvider[] {
  const line = app.bootLog.split('\n').find((l) => l.includes('"msg":"Circuit Breaker is listening"'));
  if (!line) throw new Error(`no listening line in:\n${app.bootLog}`);
  return (JSON.parse(line) as { providers: BootProvider[] }).providers;
}

/**
 * A new user's first boots, as the real process reads the environment: in production with vendors configured
 * (the base URLs written the way the vendors' own SDKs write them), test models never serve; in development
 * without auth, the service listens on loopback only.
 */
describe('safe defaults (the real process, configured from the environment)', () => {
  const prefix = testPrefix();
  const fakes: VendorFake[] = [];
  let openaiUp: VendorFake;
  let anthropicUp: VendorFake;
  let googleUp: VendorFake;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    openaiUp = await openAiFake().start();
    anthropicUp = await anthropicFake().start();
    googleUp = await googleFake().start();
    fakes.push(openaiUp, anthropicUp, googleUp);
  });

  afterAll(async () => {
    for (const app of apps) app.child.kill('SIGKILL');
    await Promise.all(apps.map((app) => app.exited));
    await Promise.all(fakes.map((fake) => fake.close()));
    await deleteKeys(prefix);
  });

  describe('NODE_ENV=production with three vendors configured', () => {
    let app: AppProcess;
    let client: OpenAI;

    beforeAll(async () => {
      app = await startAppProcess({
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        CB__AUTH__MODE: 'jwt',
        CB_JWT_SECRET: TEST_JWT_SECRET,
        CB__REDIS__KEY_PREFIX: prefix,
        OPENAI_API_KEY: 'sk-openai-test',
        OPENAI_BASE_URL: `${openaiUp.url}/v1`, // the OpenAI SDK's form, with /v1
        ANTHROPIC_API_KEY: 'sk-ant-test',
        ANTHROPIC_BASE_URL: anthropicUp.url, // the Anthropic SDK's form, without /v1
        GEMINI_API_KEY: 'gemini-test',
        GEMINI_BASE_URL: `${googleUp.url}/`, // no version path, a trailing slash
      });
      apps.push(app);
      client = new OpenAI({ baseURL: `${app.url}/v1`, apiKey: token(), maxRetries: 0 });
    }, BOOT_TIMEOUT);

    it('says in the boot log which URL each provider calls, and has no simulated provider', () => {
      const providers = bootProviders(app);
      expect(providers.map((p) => p.id)).not.toContain('simulated');
      expect(providers).toEqual(
        expect.arrayContaining([
          { id: 'openai', type: 'openai', url: `${openaiUp.url}/v1`, ready: true },
          { id: 'anthropic', type: 'anthropic', url: `${anthropicUp.url}/v1`, ready: true },
          { id: 'google', type: 'google', url: `${googleUp.url}/v1beta`, ready: true },
          { id: 'openrouter', type: 'openrouter', url: 'https://openrouter.ai/api/v1', ready: false },
        ]),
      );
      expect(app.bootLog).not.toContain('sk-openai-test');
      expect(app.bootLog).not.toContain('sk-ant-test');
    });

    it('lists no simulated model, and router/auto built from the providers that have keys', async () => {
      const models = [];
      for await (const model of client.models.list()) models.push(model);
      const ids = models.map((m) => m.id);
      expect(ids.filter((id) => id.startsWith('simulated/'))).toEqual([]);
      expect(ids).toEqual(expect.arrayContaining(['openai/gpt-4o', 'anthropic/claude-haiku-4-5']));
      expect(models.find((m) => m.id === 'router/auto')).toMatchObject({
        routing: {
          strategy: 'lowest_latency',
          models: ['openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5', 'google/gemini-2.5-flash'],
        },
      });
      await expect(
        client.chat.completions.create({
          model: 'simulated/echo',
          messages: [{ role: 'user', content: 'x' }],
        }),
      ).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    });

    it('serves every router/auto request from a real vendor, over both base URL forms', async () => {
      const served = new Map<string, number>();
      for (let i = 0; i < 12; i++) {
        const completion = await client.chat.completions.create({
          model: 'router/auto',
          messages: [{ role: 'user', content: `question ${i}` }],
        });
        served.set(completion.model, (served.get(completion.model) ?? 0) + 1);
        expect(completion.choices[0]?.message.content).toBe(`question ${i}`);
      }
      const total = [...served.values()].reduce((a, b) => a + b, 0);
      expect(total).toBe(12);
      expect([...served.keys()].every((m) => !m.startsWith('simulated/'))).toBe(true);
      const upstreamCalls = fakes.reduce(
        (n, fake) => n + fake.requests.filter((r) => r.method === 'POST').length,
        0,
      );
      expect(upstreamCalls).toBe(12);
      // Each vendor's fake saw its API's own paths, whichever form its base URL was written in.
      for (const r of anthropicUp.requests) expect(r.path).toBe('/v1/messages');
      for (const r of openaiUp.requests) expect(r.path).toBe('/v1/chat/completions');
      for (const r of googleUp.requests.filter((q) => q.method === 'POST'))
        expect(r.path).toMatch(/^\/v1beta\/models\/gemini-2\.5-flash:/);
    });
  });

  describe('development without auth', () => {
    it(
      'listens on 127.0.0.1 only and names the setting that would open it',
      async () => {
        const app = await startAppProcess({
          HOST: '', // unset: the default
          LOG_LEVEL: 'info',
          CB__REDIS__KEY_PREFIX: prefix,
        });
        apps.push(app);
        expect(new URL(app.url).hostname).toBe('127.0.0.1');
        expect(app.bootLog).toMatch(/auth\.mode is none: .*listening on 127\.0\.0\.1 only/);
        expect(app.bootLog).toContain('server.host (HOST=0.0.0.0) would open it to the network');
      },
      BOOT_TIMEOUT,
    );
  });
});
