import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../src/common/testing/free-port';
import { loadConfig } from '../src/config/config.loader';
import { parseDuration } from '../src/config/units';
import { type AppProcess, startAppProcess } from './support/app-process';
import { bearer, token } from './support/auth';
import { SHIPPED_CONF } from './support/nginx';
import { deleteKeys, REDIS_URL, testPrefix } from './support/redis-prefix';
import { postJson } from './support/sse-client';
import { waitFor } from './support/wait';

const ROOT = join(__dirname, '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** Comment lines (or instruction lines) with their `\` continuations joined. */
function joinContinuations(lines: string[]): string[] {
  const out: string[] = [];
  let pending = '';
  for (const line of lines) {
    if (line.trimEnd().endsWith('\\')) pending += `${line.trimEnd().slice(0, -1)} `;
    else {
      out.push(pending + line);
      pending = '';
    }
  }
  return out;
}

const ENV_PAIR = /([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g;

/**
 * What the Dockerfile says about the environment: the runtime stage's ENV, and the `-e` flags of the
 * `docker run ... -p 3000:3000 ...` example in its header comment.
 */
function dockerfile(): {
  imageEnv: Record<string, string>;
  exampleEnv: Record<string, string>;
  liveCheck: string[];
} {
  const lines = read('Dockerfile').split('\n');
  const header = lines
    .slice(
      0,
      lines.findIndex((l) => !l.startsWith('#')),
    )
    .map((l) => l.replace(/^#\s?/, ''));
  const run = joinContinuations(header).filter((l) => /^\s*docker run .*-p 3000:3000/.test(l));
  if (run.length !== 1)
    throw new Error(`expected one "docker run ... -p 3000:3000" example, found ${run.length}`);
  const exampleEnv: Record<string, string> = {};
  for (const [, flag] of run[0]!.matchAll(/(?:^|\s)-e\s+(\S+)/g)) {
    const [name, ...value] = flag!.split('=');
    exampleEnv[name!] = value.join('=');
  }

  const stage = joinContinuations(lines.slice(lines.findIndex((l) => /^FROM \S+ AS runtime$/.test(l))));
  const imageEnv: Record<string, string> = {};
  for (const line of stage.filter((l) => l.startsWith('ENV '))) {
    for (const [, name, value] of line.matchAll(ENV_PAIR)) imageEnv[name!] = value!;
  }
  const healthcheck = stage.find((l) => l.startsWith('HEALTHCHECK '));
  const liveCheck = JSON.parse(/CMD (\[.*\])\s*$/.exec(healthcheck ?? '')?.[1] ?? '[]') as string[];
  return { imageEnv, exampleEnv, liveCheck };
}

interface ComposeService {
  build?: string | { context: string };
  image?: string;
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  volumes?: string[];
}

function compose(): Record<string, ComposeService> {
  const doc = parseYaml(read('docker-compose.yml'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  return doc.services;
}

/** Compose's interpolation of `${NAME}`, `${NAME:-default}` and `${NAME:?error}` (what this file uses). */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{(\w+)(?::([-?])([^}]*))?\}/g,
    (_all, name: string, kind?: string, arg?: string) => {
      const set = vars[name];
      if (set !== undefined && set !== '') return set;
      if (kind === '?') throw new Error(`compose refuses to start: ${arg}`);
      return kind === '-' ? (arg ?? '') : '';
    },
  );
}

/** Every environment variable of this process that the service reads, unset, so only the example's count. */
function withoutServiceEnv(): NodeJS.ProcessEnv {
  const unset: NodeJS.ProcessEnv = {};
  for (const name of Object.keys(process.env)) {
    if (/^(CB_|NODE_ENV$|PORT$|HOST$|REDIS_URL$|LOG_LEVEL$)|_API_KEY$|_BASE_URL$/.test(name))
      unset[name] = undefined;
  }
  return unset;
}

describe('the Dockerfile example', () => {
  // No colons: the same string whether the loader reads env values as YAML or as the schema's text.
  const prefix = testPrefix().replace(/:/g, '-');
  let app: AppProcess | undefined;
  let port: number;
  const { imageEnv, exampleEnv, liveCheck } = dockerfile();

  beforeAll(async () => {
    port = await freePort();
    // Exactly the image's ENV and the example's -e flags. Only two values differ: the Redis the example's
    // container reaches by name is the test Redis here, and the port is a free one (the example publishes
    // 3000). Keys go under a prefix of this run's own.
    app = await startAppProcess({
      ...withoutServiceEnv(),
      ...imageEnv,
      ...exampleEnv,
      REDIS_URL,
      PORT: String(port),
      CB__REDIS__KEY_PREFIX: prefix,
    });
  }, 30_000);
  afterAll(async () => {
    app?.child.kill('SIGTERM');
    await app?.exited;
    await deleteKeys(prefix);
  });

  it('is what the issue asks: production image on all interfaces, auth on, the simulated provider on', () => {
    expect(imageEnv).toEqual({ NODE_ENV: 'production', HOST: '0.0.0.0' });
    expect(Object.keys(exampleEnv).sort()).toEqual([
      'CB_JWT_SECRET',
      'CB__AUTH__MODE',
      'CB__PROVIDERS__SIMULATED__ENABLED',
      'REDIS_URL',
    ]);
    expect(exampleEnv).toMatchObject({ CB__AUTH__MODE: 'jwt', CB__PROVIDERS__SIMULATED__ENABLED: 'true' });
    expect(exampleEnv.REDIS_URL).toMatch(/^redis:\/\//);
    expect(exampleEnv.CB_JWT_SECRET!.length).toBeGreaterThanOrEqual(32);
  });

  it('boots with that env: ready, refusing anonymous calls, and completing on simulated/echo for a token', async () => {
    const url = `http://127.0.0.1:${port}`;
    await waitFor('readiness', async () => (await fetch(`${url}/health/ready`)).status === 200, 10_000);
    const body = { model: 'simulated/echo', messages: [{ role: 'user', content: 'hello from the image' }] };

    const anonymous = await postJson(`${url}/v1/chat/completions`, body);
    expect(anonymous.status).toBe(401);

    const jwt = token({}, { secret: exampleEnv.CB_JWT_SECRET! });
    const res = await postJson(`${url}/v1/chat/completions`, body, { headers: bearer(jwt) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      model: 'simulated/echo',
      choices: [{ message: { role: 'assistant', content: 'hello from the image' }, finish_reason: 'stop' }],
    });
  });

  it("answers the image's HEALTHCHECK (liveness) and the compose file's (readiness)", () => {
    expect(liveCheck.slice(0, 2)).toEqual(['node', '-e']);
    const live = spawnSync(process.execPath, liveCheck.slice(1), {
      env: { ...process.env, PORT: String(port) },
    });
    expect(live.status).toBe(0);

    const ready = compose()['router-1']!.healthcheck!.test;
    expect(ready.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    const code = ready[3]!;
    expect(code).toContain("path:'/health/ready'");
    expect(code).toContain('port:3000');
    const answered = spawnSync(process.execPath, ['-e', code.replace('port:3000', `port:${port}`)]);
    expect(answered.status).toBe(0);
    // And both fail when nothing answers.
    const nobody = spawnSync(process.execPath, ['-e', code.replace('port:3000', 'port:1')]);
    expect(nobody.status).toBe(1);
  });
});

describe('docker-compose.yml', () => {
  const services = compose();
  const routers = ['router-1', 'router-2'];

  it('runs Redis, two router nodes built from the Dockerfile, and nginx', () => {
    expect(Object.keys(services).sort()).toEqual(['nginx', 'redis', ...routers]);
    for (const name of routers) {
      const router = services[name]!;
      expect(router.build).toBe('.');
      expect(router.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    }
  });

  it('gives each node a valid production configuration: auth on, all interfaces, trusted proxy, simulated on', () => {
    for (const name of routers) {
      const env = services[name]!.environment!;
      // The secret is required (compose refuses to start without it) and has no default in the file.
      expect(env.CB_JWT_SECRET).toMatch(/^\$\{CB_JWT_SECRET:\?[^}]+\}$/);
      expect(() => interpolate(env.CB_JWT_SECRET!, {})).toThrow(/set CB_JWT_SECRET in \.env/);

      const vars = { CB_JWT_SECRET: 'a-secret-for-this-test-only-0123456789abcdef' };
      const resolved = Object.fromEntries(
        Object.entries(env).map(([k, v]) => [k, interpolate(String(v), vars)]),
      );
      const config = loadConfig({ env: { NODE_ENV: 'production', ...resolved } });
      expect(config.server).toMatchObject({
        host: '0.0.0.0',
        port: 3000,
        environment: 'production',
        trust_proxy: true,
      });
      expect(config.auth.mode).toBe('jwt');
      expect(config.auth.jwt.secret).toBe(vars.CB_JWT_SECRET);
      expect(config.redis.url).toBe('redis://redis:6379');
      expect(services.redis).toBeDefined();
      expect(config.providers.get('simulated')).toMatchObject({ enabled: true });

      // Docker must not SIGKILL a draining node: its grace outlasts readiness_grace + drain_timeout, plus
      // the 2s the last error frames get and the 1s WebSocket clients get to answer the close.
      const { readiness_grace, drain_timeout } = config.server.shutdown;
      const grace = parseDuration(services[name]!.stop_grace_period);
      expect(grace).toBeGreaterThan(readiness_grace + drain_timeout + 3_000);
    }
  });

  it('puts nginx in front with the shipped config, whose upstream names the compose nodes', () => {
    const nginx = services.nginx!;
    expect(nginx.volumes).toContain('./deploy/nginx/circuit-breaker.conf:/etc/nginx/conf.d/default.conf:ro');
    expect(existsSync(join(ROOT, 'deploy/nginx/circuit-breaker.conf'))).toBe(true);
    expect(join(ROOT, 'deploy/nginx/circuit-breaker.conf')).toBe(SHIPPED_CONF);
    expect(nginx.depends_on).toEqual(
      Object.fromEntries(routers.map((name) => [name, { condition: 'service_healthy' }])),
    );

    const upstream =
      /upstream circuit_breaker \{([^}]*)\}/.exec(readFileSync(SHIPPED_CONF, 'utf8'))?.[1] ?? '';
    const servers = [...upstream.matchAll(/^\s*server\s+([\w.-]+):(\d+)\s([^;]*);/gm)].map(
      ([, host, p, flags]) => ({
        host,
        port: p,
        backup: flags!.includes('backup'),
      }),
    );
    expect(servers.filter((s) => !s.backup).map((s) => s.host)).toEqual(routers);
    expect(servers.filter((s) => s.backup).map((s) => s.host)).toEqual(routers);
    for (const s of servers) expect(services[s.host!]!.environment!.PORT).toBe(s.port);
  });
});
