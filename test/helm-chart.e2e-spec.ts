import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from '../src/common/testing/free-port';
import { type AppProcess, startAppProcess } from './support/app-process';
import { token } from './support/auth';
import { type Manifest, manifestsOf, renderChart } from './support/helm/chart';
import { type ContainerEnvSpec, expand, podEnv } from './support/helm/pod-env';
import { redisAnswers } from './support/redis';
import { waitFor } from './support/wait';

/**
 * The chart's pod, as far as it can run here: the Deployment's container environment (its env list, the chart's
 * Secret through envFrom, the Redis password through secretKeyRef and $(REDIS_PASSWORD) expansion, NODE_ENV
 * production) and its ConfigMap start the real service against a redis-server that requires that password.
 * Only PORT and HOST are replaced (a free loopback port; the chart's 0.0.0.0 is checked in helm-chart.spec.ts),
 * and CB_CONFIG_FILE points at the ConfigMap's file written to a temporary directory instead of its mount.
 */

const CHART = join(__dirname, '..', 'helm', 'circuit-breaker');
const JWT_SECRET = 'chart-e2e-secret-0123456789abcdef0123';
// Characters that mean something in a URL: the Secret holds it percent-encoded (README.md of the chart).
const REDIS_PASSWORD = 'p@ss:w/rd%?#1';

describe('the chart’s pod environment boots the service (Redis password from a Secret, NODE_ENV production)', () => {
  let redis: ChildProcess | undefined;
  let app: AppProcess | undefined;
  let dir: string;
  let redisPort: number;

  beforeAll(async () => {
    redisPort = await freePort();
    redis = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitFor('redis-server', () => redisAnswers(`redis://127.0.0.1:${redisPort}`), 10_000);
    // Set the password only now, so the wait above could tell "up" without knowing it.
    const admin = new Redis(`redis://127.0.0.1:${redisPort}`);
    try {
      await admin.config('SET', 'requirepass', REDIS_PASSWORD);
    } finally {
      admin.disconnect();
    }
    dir = mkdtempSync(join(tmpdir(), 'cb-chart-'));
  }, 20_000);

  afterAll(async () => {
    if (app) {
      const exited = app.exited;
      app.child.kill('SIGTERM');
      await exited;
    }
    if (redis) {
      const exited = new Promise((resolve) => redis!.once('exit', resolve));
      redis.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('starts, becomes ready on the password-protected Redis, serves /metrics openly and wants tokens elsewhere', async () => {
    expect(await redisAnswers(`redis://127.0.0.1:${redisPort}`)).toBe(false); // the password is really required

    const objects = manifestsOf(
      renderChart(
        CHART,
        {
          secrets: { jwtSecret: JWT_SECRET },
          redis: {
            url: `redis://127.0.0.1:${redisPort}/0`,
            passwordSecret: { name: 'redis-auth', key: 'password' },
          },
          config: { streaming: { protocols: { sse: { keepalive_interval: '5s' } } } },
        },
        { name: 'cb', namespace: 'llm' },
      ),
    );
    const of = (kind: string): Manifest => objects.find((o) => o.kind === kind)!;
    const secret = of('Secret') as Manifest & { data: Record<string, string> };
    const configMap = of('ConfigMap') as Manifest & { data: Record<string, string> };
    const pod = (
      of('Deployment').spec as {
        template: {
          spec: {
            containers: Array<
              ContainerEnvSpec & { volumeMounts: Array<{ name: string; mountPath: string }> }
            >;
            volumes: Array<{ name: string; configMap?: { name: string } }>;
          };
        };
      }
    ).template.spec;
    const container = pod.containers[0]!;

    const env = podEnv(container, {
      secrets: {
        [secret.metadata.name]: Object.fromEntries(
          Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
        ),
        'redis-auth': { password: encodeURIComponent(REDIS_PASSWORD) },
      },
    });
    expect(env.NODE_ENV).toBe('production');
    expect(env.REDIS_URL).toBe(`redis://:${encodeURIComponent(REDIS_PASSWORD)}@127.0.0.1:${redisPort}/0`);
    // The config file the env names is the ConfigMap's, where the pod mounts it.
    const mount = container.volumeMounts.find((m) => m.name === 'config')!;
    expect(pod.volumes.find((v) => v.name === 'config')?.configMap?.name).toBe(configMap.metadata.name);
    expect(env.CB_CONFIG_FILE).toBe(`${mount.mountPath}/config.yml`);
    const configFile = join(dir, 'config.yml');
    writeFileSync(configFile, configMap.data['config.yml']!);

    app = await startAppProcess({ ...env, CB_CONFIG_FILE: configFile, PORT: '0', HOST: '127.0.0.1' });

    await waitFor('readiness', async () => (await fetch(`${app!.url}/health/ready`)).status === 200, 15_000);
    const metrics = await fetch(`${app.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# TYPE cb_active_streams gauge$/m);

    expect((await fetch(`${app.url}/v1/models`)).status).toBe(401);
    const models = await fetch(`${app.url}/v1/models`, {
      headers: { authorization: `Bearer ${token({}, { secret: JWT_SECRET })}` },
    });
    expect(models.status).toBe(200);
    const ids = ((await models.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    expect(ids).not.toContain('simulated/echo'); // providers.simulated.enabled: false, set explicitly
  }, 60_000);

  it('expands $(VAR) as Kubernetes does: defined earlier only, $$ escapes, values not re-expanded', () => {
    const defined = new Map([
      ['A', 'x$(B)'],
      ['B', 'b'],
    ]);
    expect(expand('$(A)-$(B)-$(C)-$$(B)-$1', defined)).toBe('x$(B)-b-$(C)-$(B)-$1');
  });
});
