import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG_DIR, deepMerge, loadConfig } from './config.loader';
import { redactConfig } from './config.redact';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('loads and types the shipped default.yml', () => {
    const config = loadConfig({ env: {} });
    expect(config.server.port).toBe(3000);
    expect(config.server.body_limit).toBe(1024 * 1024);
    expect(config.streaming.protocols.sse.keepalive_interval).toBe(15_000);
    expect(config.streaming.protocols.websocket.message_buffer_size).toBe(1024 * 1024);
    expect(config.streaming.performance.global_memory_limit).toBe(1024 ** 3);
    expect(config.streaming.protocols.graphql.subscription_timeout).toBe(30 * 60_000);
    expect(config.providers.get('simulated')).toMatchObject({ type: 'simulated', first_token_delay: 150 });
    expect(config.models.map((m) => m.id)).toEqual(
      expect.arrayContaining(['simulated/echo', 'simulated/lorem', 'openai/gpt-4o']),
    );
    expect(config.models.find((m) => m.id === 'openai/gpt-4o')).toMatchObject({
      upstream: 'gpt-4o',
      context_length: 128000,
      pricing: { prompt: 2.5, completion: 10 },
    });
  });

  it('applies NODE_ENV overlay, CB_CONFIG_FILE, shortcuts and CB__ variables in that order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cb-config-'));
    writeFileSync(join(dir, 'default.yml'), readDefault());
    writeFileSync(join(dir, 'staging.yml'), 'server:\n  port: 4001\n  log_level: warn\n');
    const extra = join(dir, 'extra.yml');
    writeFileSync(
      extra,
      'server:\n  port: 4002\nstreaming:\n  protocols:\n    sse:\n      retry_timeout: 9s\n',
    );
    const config = loadConfig({
      configDir: dir,
      env: {
        NODE_ENV: 'staging',
        CB_CONFIG_FILE: extra,
        PORT: '4003',
        CB__STREAMING__PROTOCOLS__SSE__KEEPALIVE_INTERVAL: '250ms',
        CB__STREAMING__MONITORING__METRICS_ENABLED: 'false',
      },
    });
    expect(config.server.port).toBe(4003);
    expect(config.server.log_level).toBe('warn');
    expect(config.streaming.protocols.sse.retry_timeout).toBe(9000);
    expect(config.streaming.protocols.sse.keepalive_interval).toBe(250);
    expect(config.streaming.monitoring.metrics_enabled).toBe(false);
  });

  it('names the key and the problem for every bad value', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          CB__SERVER__PORT: '70000',
          CB__STREAMING__PROTOCOLS__SSE__KEEPALIVE_INTERVAL: 'soon',
          CB__STREAMING__PERFORMANCE__MAX_MEMORY_PER_STREAM: '10 apples',
          CB__STREAMING__PROTOCOLS__SSE__KEEPALIVE_INTERVALL: '5s',
        },
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'server.port: must not be greater than 65535 (got 70000)',
        'streaming.protocols.sse.keepalive_interval: must be a duration like "100ms", "30s" or "5m" (got "soon")',
        'streaming.performance.max_memory_per_stream: must be a size like "64KB", "10MB" or "1GB" (got "10 apples")',
        'streaming.protocols.sse.keepalive_intervall: property keepalive_intervall should not exist',
      ]),
    );
  });

  it('checks provider entries and model references', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {},
        overrides: [
          {
            providers: { broken: { type: 'nope' } },
            models: [
              { id: 'simulated/echo', provider: 'simulated', upstream: 'echo' },
              { id: 'ghost/x', provider: 'ghost', upstream: 'x' },
            ],
          },
        ],
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^providers\.broken\.type: must be one of the following values/),
    ]);

    const refs = problemsOf(() =>
      loadConfig({
        env: {},
        overrides: [
          {
            models: [
              { id: 'simulated/echo', provider: 'simulated', upstream: 'echo', aliases: ['e'] },
              { id: 'ghost/x', provider: 'ghost', upstream: 'x', aliases: ['e'] },
              { id: 'not-a-model-id', provider: 'simulated', upstream: 'x' },
            ],
          },
        ],
      }),
    );
    expect(refs).toEqual(['models[2].id: must look like "provider/model" (got "not-a-model-id")']);
  });

  it('reports unknown provider references and duplicate names once the shape is valid', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {},
        overrides: [
          {
            models: [
              { id: 'simulated/echo', provider: 'simulated', upstream: 'echo', aliases: ['e'] },
              { id: 'ghost/x', provider: 'ghost', upstream: 'x', aliases: ['e'] },
            ],
          },
        ],
      }),
    );
    expect(problems).toEqual([
      'models[1].provider: unknown provider "ghost" (not under providers)',
      'models[1]: "e" is already used by models[0]',
    ]);
  });

  it('fails clearly on a missing CB_CONFIG_FILE and on YAML that is not a mapping', () => {
    expect(problemsOf(() => loadConfig({ env: { CB_CONFIG_FILE: '/nonexistent/cb.yml' } }))).toEqual([
      '/nonexistent/cb.yml: file not found',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'cb-config-'));
    writeFileSync(join(dir, 'default.yml'), '- just\n- a list\n');
    expect(problemsOf(() => loadConfig({ configDir: dir, env: {} }))).toEqual([
      `${join(dir, 'default.yml')}: the top level must be a mapping`,
    ]);
  });

  it('never prints secrets when reporting or redacting', () => {
    const problems = problemsOf(() => loadConfig({ env: { REDIS_URL: 'http://user:hunter2@redis:6379' } }));
    expect(problems).toEqual(['redis.url: must be a redis:// or rediss:// URL']);
    const config = loadConfig({ env: { REDIS_URL: 'redis://user:hunter2@redis:6379/0' } });
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).not.toContain('hunter2');
    expect(printed).toContain('redis://[redacted]@redis:6379/0');
  });
});

describe('deepMerge', () => {
  it('merges objects key by key and replaces arrays and scalars', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: { e: 2 } })).toEqual({
      a: { b: 1, c: [3] },
      d: { e: 2 },
    });
  });
});

function readDefault(): string {
  return readFileSync(join(DEFAULT_CONFIG_DIR, 'default.yml'), 'utf8');
}

describe('provider keys and base URLs from the environment', () => {
  it('fills api_key and base_url from the env vars a provider names, unless config sets them', () => {
    const config = loadConfig({
      env: { OPENAI_API_KEY: 'sk-env', OPENAI_BASE_URL: 'http://127.0.0.1:4010/v1', OPENROUTER_API_KEY: '' },
    });
    expect(config.providers.get('openai')).toMatchObject({
      api_key: 'sk-env',
      base_url: 'http://127.0.0.1:4010/v1',
    });
    expect(config.providers.get('openrouter')?.api_key).toBeUndefined();
    const explicit = loadConfig({
      env: { OPENAI_API_KEY: 'sk-env' },
      overrides: [{ providers: { openai: { api_key: 'sk-config' } } }],
    });
    expect(explicit.providers.get('openai')?.api_key).toBe('sk-config');
  });

  it('redacts provider keys and extra headers when printing the config', () => {
    const config = loadConfig({
      env: { OPENAI_API_KEY: 'sk-env-secret' },
      overrides: [{ providers: { openrouter: { headers: { Authorization: 'Bearer sk-or-secret' } } } }],
    });
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).not.toContain('sk-env-secret');
    expect(printed).not.toContain('sk-or-secret');
  });

  it('checks base URLs and timeouts', () => {
    expect(
      problemsOf(() =>
        loadConfig({
          env: {},
          overrides: [{ providers: { openai: { base_url: 'ftp://x', idle_timeout: 'soon' } } }],
        }),
      ),
    ).toEqual([
      'providers.openai.base_url: must be an http:// or https:// URL (got "ftp://x")',
      'providers.openai.idle_timeout: must be a duration like "100ms", "30s" or "5m" (got "soon")',
    ]);
  });

  it('refuses a WebSocket ping interval or send budget of zero', () => {
    expect(() =>
      loadConfig({
        env: {},
        overrides: [
          { streaming: { protocols: { websocket: { ping_interval: '0ms', message_buffer_size: 0 } } } },
        ],
      }),
    ).toThrow(
      /ping_interval: must be at least 10ms[\s\S]*message_buffer_size: must be at least 1KB|message_buffer_size: must be at least 1KB[\s\S]*ping_interval: must be at least 10ms/,
    );
  });
});

describe('auth.jwt.jwks_url', () => {
  const withJwks = (jwt: Record<string, unknown>, environment = 'development') =>
    loadConfig({
      env: {},
      overrides: [{ server: { environment }, auth: { mode: 'jwt', jwt: { algorithms: ['RS256'], ...jwt } } }],
    });

  it('is enough on its own for RS256, with the cache defaults', () => {
    const { jwt } = withJwks({ jwks_url: 'https://idp.example.com/.well-known/jwks.json' }).auth;
    expect(jwt).toMatchObject({
      jwks_cache_ttl: 600_000,
      jwks_refetch_cooldown: 30_000,
      jwks_timeout: 5_000,
    });
    expect(
      withJwks({ jwks_url: 'https://idp.example.com/jwks', jwks_cache_ttl: '1m' }).auth.jwt.jwks_cache_ttl,
    ).toBe(60_000);
  });

  it('takes plain http to loopback anywhere, and to other hosts only in development', () => {
    for (const url of ['http://127.0.0.1:8080/jwks', 'http://localhost/jwks', 'http://[::1]:9000/jwks']) {
      expect(withJwks({ jwks_url: url }, 'production').auth.jwt.jwks_url).toBe(url);
    }
    expect(withJwks({ jwks_url: 'http://keycloak:8080/jwks' }).auth.jwt.jwks_url).toBe(
      'http://keycloak:8080/jwks',
    );
    expect(problemsOf(() => withJwks({ jwks_url: 'http://keycloak:8080/jwks' }, 'production'))).toEqual([
      expect.stringMatching(
        /^auth\.jwt\.jwks_url: plain http is only allowed to a loopback host in production/,
      ),
    ]);
  });

  it('refuses what is not an http(s) URL without credentials, and a URL nothing would read', () => {
    for (const url of [
      'ftp://idp.example.com/jwks',
      'idp.example.com/jwks',
      'https://user:pw@idp.example.com/',
    ]) {
      expect(problemsOf(() => withJwks({ jwks_url: url })).join('\n')).toMatch(/auth\.jwt\.jwks_url/);
    }
    expect(
      problemsOf(() => withJwks({ jwks_url: 'https://idp.example.com/jwks', jwks_timeout: '10ms' })),
    ).toEqual([expect.stringMatching(/^auth\.jwt\.jwks_timeout/)]);
    const hsOnly = () =>
      loadConfig({
        env: {},
        overrides: [
          {
            auth: {
              mode: 'jwt',
              jwt: {
                algorithms: ['HS256'],
                secret: 'x'.repeat(32),
                jwks_url: 'https://idp.example.com/jwks',
              },
            },
          },
        ],
      });
    expect(problemsOf(hsOnly)).toEqual([
      expect.stringMatching(/jwks_url: set, but .* neither RS256 nor ES256/),
    ]);
  });
});
