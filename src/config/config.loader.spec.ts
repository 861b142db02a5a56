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
        'server.port: must not be greater than 65535 (got 70000) (set by CB__SERVER__PORT)',
        'streaming.protocols.sse.keepalive_interval: must be a duration like "100ms", "30s" or "5m" (got "soon") (set by CB__STREAMING__PROTOCOLS__SSE__KEEPALIVE_INTERVAL)',
        'streaming.performance.max_memory_per_stream: must be a size like "64KB", "10MB" or "1GB" (got "10 apples") (set by CB__STREAMING__PERFORMANCE__MAX_MEMORY_PER_STREAM)',
        'streaming.protocols.sse.keepalive_intervall: property keepalive_intervall should not exist (set by CB__STREAMING__PROTOCOLS__SSE__KEEPALIVE_INTERVALL)',
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
            models: {
              $replace: [
                { id: 'simulated/echo', provider: 'simulated', upstream: 'echo', aliases: ['e'] },
                { id: 'ghost/x', provider: 'ghost', upstream: 'x', aliases: ['e'] },
                { id: 'not-a-model-id', provider: 'simulated', upstream: 'x' },
              ],
            },
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
            models: {
              $replace: [
                { id: 'simulated/echo', provider: 'simulated', upstream: 'echo', aliases: ['e'] },
                { id: 'ghost/x', provider: 'ghost', upstream: 'x', aliases: ['e'] },
              ],
            },
            routing: { virtual_models: { $replace: [] } },
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
    expect(problems).toEqual(['redis.url: must be a redis:// or rediss:// URL (set by REDIS_URL)']);
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

describe('env values are read as the schema types their key', () => {
  it('keeps a string key a string whatever YAML would make of it', () => {
    for (const prefix of ['myapp:', '123', 'true', '[a]', '{x: 1}', 'null', '~']) {
      expect(loadConfig({ env: { CB__REDIS__KEY_PREFIX: prefix } }).redis.key_prefix).toBe(prefix);
    }
    expect(loadConfig({ env: { HOST: '::' } }).server.host).toBe('::');
  });

  it('parses numbers, booleans, units, lists and maps only where the key is one', () => {
    const config = loadConfig({
      env: {
        PORT: '4000',
        CB__STREAMING__ERROR_HANDLING__CIRCUIT_BREAKER_THRESHOLD: '12.5',
        CB__SERVER__TRUST_PROXY: 'TRUE',
        CB__STREAMING__PROTOCOLS__SSE__KEEPALIVE_INTERVAL: '5000',
        CB__SERVER__CORS__ORIGINS: '["https://a.example", https://b.example]',
        CB__SANITIZATION__ENTITIES: '[email, card]',
        CB__SANITIZATION__ROUTES: '{ws: false}',
        CB__SANITIZATION__ROUTES__SSE: 'true',
        CB__PROVIDERS__OPENAI__HEADERS__X_APP: 'myapp: 2',
      },
    });
    expect(config.server.port).toBe(4000);
    expect(config.streaming.error_handling.circuit_breaker_threshold).toBe(12.5);
    expect(config.server.trust_proxy).toBe(true);
    expect(config.streaming.protocols.sse.keepalive_interval).toBe(5000);
    expect(config.server.cors.origins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.sanitization.entities).toEqual(['email', 'card']);
    expect(config.sanitization.routes).toEqual({ ws: false, sse: true });
    expect(config.providers.get('openai')?.headers).toEqual({ x_app: 'myapp: 2' });
  });

  it('names the key, what it received and the variable that set it when the text is not of the kind', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          PORT: 'eighty',
          CB__SERVER__TRUST_PROXY: 'yes',
          CB__SANITIZATION__ENTITIES: 'email',
          CB__STREAMING__PROTOCOLS__SSE__MAX_CONNECTIONS: '1e3x',
        },
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.port: must be an integer number .*\(got "eighty"\) \(set by PORT\)$/),
        'server.trust_proxy: must be a boolean value (got "yes") (set by CB__SERVER__TRUST_PROXY)',
        expect.stringMatching(
          /^sanitization\.entities: must be an array \(got "email"\) \(set by CB__SANITIZATION__ENTITIES\)$/,
        ),
        expect.stringMatching(
          /^streaming\.protocols\.sse\.max_connections: must be an integer number.*\(got "1e3x"\)/,
        ),
      ]),
    );
  });

  it('shows a map or list received where a scalar belongs', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: {}, overrides: [{ redis: { key_prefix: { a: 1 } } }] }),
    );
    expect(problems).toEqual(['redis.key_prefix: must be a string (got {"a":1})']);
  });

  it('sets providers that exist only in the environment, typed like any other', () => {
    const config = loadConfig({
      env: {
        CB__PROVIDERS__VLLM__TYPE: 'openai-compatible',
        CB__PROVIDERS__VLLM__BASE_URL: 'http://127.0.0.1:8000/v1',
        CB__PROVIDERS__VLLM__ALLOW_ANY_MODEL: 'true',
        CB__PROVIDERS__VLLM__CONNECT_TIMEOUT: '2s',
      },
    });
    expect(config.providers.get('vllm')).toMatchObject({
      type: 'openai-compatible',
      base_url: 'http://127.0.0.1:8000/v1',
      allow_any_model: true,
      connect_timeout: 2000,
    });
  });
});

describe('overlays merge models and virtual models by id', () => {
  const flaky = {
    id: 'simulated/flaky',
    provider: 'simulated',
    upstream: 'echo',
    options: { fail_after_chunks: 5, fail_with: 'connection_lost' },
  };

  function withOverlay(yaml: string) {
    const dir = mkdtempSync(join(tmpdir(), 'cb-overlay-'));
    const file = join(dir, 'overlay.yml');
    writeFileSync(file, yaml);
    return loadConfig({ env: { CB_CONFIG_FILE: file } });
  }

  it("adds the README's simulated/flaky snippet without losing the catalogue, router/auto or workflows", () => {
    const base = loadConfig({ env: {} });
    const config = withOverlay(
      'models:\n  - { id: simulated/flaky, provider: simulated, upstream: echo, options: { fail_after_chunks: 5, fail_with: connection_lost } }\n',
    );
    expect(config.models.map((m) => m.id)).toEqual([...base.models.map((m) => m.id), 'simulated/flaky']);
    expect(config.models.at(-1)).toMatchObject(flaky);
    expect(config.routing.virtual_models.map((v) => v.id)).toContain('router/auto');
    expect(config.workflows.directory).toBe(base.workflows.directory);
  });

  it('updates a listed model in place, key by key, and removes one marked $remove', () => {
    const config = withOverlay(
      [
        'models:',
        '  - { id: openai/gpt-4o, pricing: { prompt: 2, completion: 8 }, aliases: [four-o] }',
        '  - { id: simulated/lorem, $remove: true }',
        '  - { id: not/there, $remove: true }',
        'routing:',
        '  virtual_models:',
        '    - { id: router/auto, strategy: priority }',
        '    - { id: router/cheap, strategy: lowest_cost, models: [openai/gpt-4o-mini, google/gemini-2.5-flash] }',
      ].join('\n'),
    );
    const gpt4o = config.models.filter((m) => m.id === 'openai/gpt-4o');
    expect(gpt4o).toEqual([
      expect.objectContaining({
        upstream: 'gpt-4o',
        context_length: 128000,
        pricing: { prompt: 2, completion: 8 },
        aliases: ['four-o'],
      }),
    ]);
    expect(config.models.map((m) => m.id)).not.toContain('simulated/lorem');
    const auto = config.routing.virtual_models.find((v) => v.id === 'router/auto');
    expect(auto).toMatchObject({ strategy: 'priority' });
    expect(auto?.models.length).toBeGreaterThan(0);
    expect(config.routing.virtual_models.map((v) => v.id)).toEqual(['router/auto', 'router/cheap']);
  });

  it('replaces the whole list with $replace', () => {
    const config = withOverlay(
      [
        'models:',
        '  $replace:',
        '    - { id: simulated/echo, provider: simulated, upstream: echo }',
        'routing:',
        '  virtual_models: { $replace: [] }',
      ].join('\n'),
    );
    expect(config.models.map((m) => m.id)).toEqual(['simulated/echo']);
    expect(config.routing.virtual_models).toEqual([]);
  });

  it('merges other lists by replacing them, as before', () => {
    const config = withOverlay('sanitization:\n  entities: [email]\n');
    expect(config.sanitization.entities).toEqual(['email']);
  });
});

describe('defaults that keep a new install safe', () => {
  const jwtEnv = { CB__AUTH__MODE: 'jwt', CB_JWT_SECRET: 'x'.repeat(32) };

  it('listens on loopback only while auth is off, on every interface with auth, and where HOST says', () => {
    expect(loadConfig({ env: {} }).server.host).toBe('127.0.0.1');
    expect(loadConfig({ env: jwtEnv }).server.host).toBe('0.0.0.0');
    expect(loadConfig({ env: { HOST: '0.0.0.0' } }).server.host).toBe('0.0.0.0');
    expect(loadConfig({ env: { ...jwtEnv, HOST: '10.0.0.5' } }).server.host).toBe('10.0.0.5');
  });

  it('turns the simulated provider off in production unless it is enabled explicitly', () => {
    expect(loadConfig({ env: {} }).providers.get('simulated')?.enabled).toBe(true);
    expect(
      loadConfig({ env: { NODE_ENV: 'production', ...jwtEnv } }).providers.get('simulated')?.enabled,
    ).toBe(false);
    const explicit = loadConfig({
      env: { NODE_ENV: 'production', ...jwtEnv, CB__PROVIDERS__SIMULATED__ENABLED: 'true' },
    });
    expect(explicit.providers.get('simulated')?.enabled).toBe(true);
    const off = loadConfig({ env: { CB__PROVIDERS__SIMULATED__ENABLED: 'false' } });
    expect(off.providers.get('simulated')?.enabled).toBe(false);
  });

  it('ships router/auto without a simulated member', () => {
    const auto = loadConfig({ env: {} }).routing.virtual_models.find((v) => v.id === 'router/auto');
    expect(auto?.models.length).toBeGreaterThan(0);
    expect(auto?.models.filter((m) => m.startsWith('simulated/'))).toEqual([]);
  });
});
