import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { isLoopbackHost } from '../common/net/ip-address';
import { AppConfig, SANITIZATION_ROUTES } from './app-config';
import { isSecretProperty } from './config.decorators';
import { valueKindAt, type ValueKind } from './config.schema';

/**
 * Configuration layers, later ones win:
 *   1. config/default.yml
 *   2. config/<NODE_ENV>.yml (if present)
 *   3. the file named by CB_CONFIG_FILE (must exist when set)
 *   4. shortcut env vars: PORT, HOST, REDIS_URL, LOG_LEVEL
 *   5. CB__<PATH>__<TO>__<KEY>=value, e.g. CB__STREAMING__PROTOCOLS__SSE__KEEPALIVE_INTERVAL=5s
 *      (segments are lower-cased; each value is read as the schema types its key: see config.schema.ts)
 *   6. programmatic overrides (tests, tools)
 * Objects merge key by key; `models` and `routing.virtual_models` merge by id; other arrays and scalars
 * replace; `{ $replace: value }` replaces whatever was there.
 */

export type ConfigLayer = Record<string, unknown>;

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  configDir?: string;
  overrides?: ConfigLayer[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_CONFIG_DIR = resolve(__dirname, '..', '..', 'config');
const ENV_PREFIX = 'CB__';
const ENV_SHORTCUTS: Record<string, string[]> = {
  PORT: ['server', 'port'],
  HOST: ['server', 'host'],
  REDIS_URL: ['redis', 'url'],
  LOG_LEVEL: ['server', 'log_level'],
};

export function loadConfig(options: LoadConfigOptions = {}): AppConfig {
  const env = options.env ?? process.env;
  const dir = options.configDir ?? env.CB_CONFIG_DIR ?? DEFAULT_CONFIG_DIR;
  const layers: ConfigLayer[] = [readYamlFile(join(dir, 'default.yml'), true)];
  const nodeEnv = env.NODE_ENV;
  if (nodeEnv && /^[\w-]+$/.test(nodeEnv)) layers.push(readYamlFile(join(dir, `${nodeEnv}.yml`), false));
  if (env.CB_CONFIG_FILE) {
    const file = isAbsolute(env.CB_CONFIG_FILE) ? env.CB_CONFIG_FILE : resolve(env.CB_CONFIG_FILE);
    layers.push(readYamlFile(file, true));
  }
  const origins: EnvOrigins = new Map();
  layers.splice(1, 0, environmentLayer(env));
  layers.push(envLayer(env, origins), ...(options.overrides ?? []));
  const merged = layers.reduce<ConfigLayer>((acc, layer) => deepMerge(acc, layer), {});
  const raw = applyEnvironmentDefaults(resolveAuthEnv(resolveProviderEnv(merged, env), env));
  return buildConfig(raw, origins);
}

/**
 * Defaults that depend on the environment and on other settings, applied where config leaves a key unset:
 *   server.host  127.0.0.1 while auth.mode is none (open to this machine only), 0.0.0.0 with authentication;
 *   providers.<id>.enabled of `simulated` providers  off when server.environment is production (test models
 *     never serve real traffic unless enabled explicitly), on otherwise.
 */
function applyEnvironmentDefaults(raw: ConfigLayer): ConfigLayer {
  const server = isPlainObject(raw.server) ? raw.server : {};
  const auth = isPlainObject(raw.auth) ? raw.auth : {};
  const production = server.environment === 'production';
  const out: ConfigLayer = { ...raw };
  if (server.host === undefined || server.host === null) {
    out.server = { ...server, host: auth.mode === 'jwt' ? '0.0.0.0' : '127.0.0.1' };
  }
  if (isPlainObject(raw.providers)) {
    const providers: ConfigLayer = {};
    for (const [id, provider] of Object.entries(raw.providers)) {
      const unset =
        isPlainObject(provider) && provider.type === 'simulated' && provider.enabled === undefined;
      providers[id] = unset ? { ...provider, enabled: !production } : provider;
    }
    out.providers = providers;
  }
  return out;
}

/**
 * Fills each provider's `api_key` and `base_url` from the env vars its `api_key_env` / `base_url_env` name,
 * where config does not set them: an explicit value in a config file wins over the ambient environment.
 */
function resolveProviderEnv(raw: ConfigLayer, env: NodeJS.ProcessEnv): ConfigLayer {
  const providers = raw.providers;
  if (!isPlainObject(providers)) return raw;
  const resolved: ConfigLayer = {};
  for (const [id, provider] of Object.entries(providers)) {
    if (!isPlainObject(provider)) {
      resolved[id] = provider;
      continue;
    }
    const out = { ...provider };
    for (const [key, envKey] of [
      ['api_key', 'api_key_env'],
      ['base_url', 'base_url_env'],
    ] as const) {
      const name = out[envKey];
      const value = typeof name === 'string' ? env[name] : undefined;
      if ((out[key] === undefined || out[key] === '') && value) out[key] = value;
    }
    resolved[id] = out;
  }
  return { ...raw, providers: resolved };
}

/** Fills `auth.jwt.secret` from the env var `auth.jwt.secret_env` names, unless config sets it. */
function resolveAuthEnv(raw: ConfigLayer, env: NodeJS.ProcessEnv): ConfigLayer {
  const auth = raw.auth;
  const jwt = isPlainObject(auth) ? auth.jwt : undefined;
  if (!isPlainObject(auth) || !isPlainObject(jwt) || (jwt.secret !== undefined && jwt.secret !== ''))
    return raw;
  const name = jwt.secret_env;
  const value = typeof name === 'string' ? env[name] : undefined;
  return value ? { ...raw, auth: { ...auth, jwt: { ...jwt, secret: value } } } : raw;
}

/** NODE_ENV=production makes `server.environment` production (an explicit setting wins). */
function environmentLayer(env: NodeJS.ProcessEnv): ConfigLayer {
  return env.NODE_ENV === 'production' ? { server: { environment: 'production' } } : {};
}

/** Validates a merged raw object into AppConfig, or throws ConfigError naming every bad key. */
export function buildConfig(raw: ConfigLayer, origins: ReadonlyMap<string, string> = new Map()): AppConfig {
  const config = plainToInstance(AppConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
  });
  const problems = errors.flatMap((error) => describe(error, ''));
  if (problems.length === 0) problems.push(...crossCheck(config));
  if (problems.length > 0) throw new ConfigError(problems.map((problem) => withOrigin(problem, origins)));
  return config;
}

/** `redis.key_prefix: must be ...` -> `... (set by CB__REDIS__KEY_PREFIX)` when an env var set that key. */
function withOrigin(problem: string, origins: ReadonlyMap<string, string>): string {
  const key = problem.slice(0, problem.indexOf(':'));
  for (let path = key; path; path = path.slice(0, Math.max(0, path.lastIndexOf('.')))) {
    const name = origins.get(path.replace(/\[\d+\]/g, ''));
    if (name) return `${problem} (set by ${name})`;
  }
  return problem;
}

function crossCheck(config: AppConfig): string[] {
  const problems: string[] = [];
  const names = new Map<string, string>();
  config.models.forEach((model, i) => {
    const provider = config.providers.get(model.provider);
    if (!provider) {
      problems.push(`models[${i}].provider: unknown provider "${model.provider}" (not under providers)`);
    }
    for (const name of [model.id, ...model.aliases]) {
      const previous = names.get(name);
      if (previous) problems.push(`models[${i}]: "${name}" is already used by ${previous}`);
      else names.set(name, `models[${i}]`);
    }
  });
  return [...problems, ...authProblems(config), ...sanitizationProblems(config)];
}

function authProblems({ auth, server }: AppConfig): string[] {
  const problems: string[] = [];
  if (auth.mode === 'none' && server.environment === 'production') {
    problems.push(
      'auth.mode: production (NODE_ENV=production) does not run without authentication; set auth.mode: jwt ' +
        'with auth.jwt.secret_env (HS256) or auth.jwt.public_key_file / jwks_file (RS256, ES256)',
    );
  }
  if (auth.mode === 'jwt') {
    const { algorithms, secret, public_key_file, jwks_file, jwks_url } = auth.jwt;
    if (algorithms.includes('HS256') && !secret) {
      problems.push('auth.jwt.secret: HS256 needs a secret (set the env var auth.jwt.secret_env names)');
    }
    const asymmetric = algorithms.some((a) => a !== 'HS256');
    if (asymmetric && !public_key_file && !jwks_file && !jwks_url) {
      problems.push('auth.jwt: RS256 and ES256 need public_key_file, jwks_file or jwks_url');
    }
    if (jwks_url !== undefined) problems.push(...jwksUrlProblems(jwks_url, asymmetric, server.environment));
  }
  if (!auth.rate_limits.tiers.has(auth.rate_limits.default_tier)) {
    problems.push(`auth.rate_limits.default_tier: no tier "${auth.rate_limits.default_tier}" under tiers`);
  }
  return problems;
}

/** auth.jwt.jwks_url: read only for RS256 / ES256; plain http only to loopback, or anywhere in development. */
function jwksUrlProblems(url: string, asymmetric: boolean, environment: string): string[] {
  if (!asymmetric) {
    return [
      'auth.jwt.jwks_url: set, but auth.jwt.algorithms has neither RS256 nor ES256 (HS256 never uses it)',
    ];
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [`auth.jwt.jwks_url: not a URL`];
  }
  if (parsed.protocol === 'http:' && environment === 'production' && !isLoopbackHost(parsed.hostname)) {
    return [
      'auth.jwt.jwks_url: plain http is only allowed to a loopback host in production ' +
        `(got host ${parsed.hostname}); use https`,
    ];
  }
  return [];
}

function sanitizationProblems({ sanitization }: AppConfig): string[] {
  const problems: string[] = [];
  if (sanitization.mask_style === 'hash' && !sanitization.hash_key) {
    problems.push('sanitization.hash_key: the hash mask style needs a key (the same on every node)');
  }
  const names = new Set<string>();
  sanitization.custom_rules.forEach((rule, i) => {
    if (names.has(rule.name))
      problems.push(`sanitization.custom_rules[${i}].name: "${rule.name}" is used twice`);
    names.add(rule.name);
    try {
      new RegExp(rule.pattern, rule.flags);
    } catch (err) {
      problems.push(
        `sanitization.custom_rules[${i}].pattern: not a valid regular expression (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  });
  for (const route of Object.keys(sanitization.routes)) {
    if (!(SANITIZATION_ROUTES as readonly string[]).includes(route)) {
      problems.push(`sanitization.routes.${route}: unknown route (one of ${SANITIZATION_ROUTES.join(', ')})`);
    }
  }
  return problems;
}

function describe(error: ValidationError, parentPath: string): string[] {
  const path = joinPath(parentPath, error.property, error.target);
  const own = Object.values(error.constraints ?? {}).map((message) => {
    const text = message.startsWith(`${error.property} `)
      ? message.slice(error.property.length + 1)
      : message;
    const secret = error.target !== undefined && isSecretProperty(error.target, error.property);
    const shown = secret ? '' : gotSuffix(text, error.value);
    return `${path}: ${text}${shown}`;
  });
  return [...own, ...(error.children ?? []).flatMap((child) => describe(child, path))];
}

function joinPath(parent: string, property: string, target: unknown): string {
  if (Array.isArray(target) && /^\d+$/.test(property)) return `${parent}[${property}]`;
  return parent ? `${parent}.${property}` : property;
}

function gotSuffix(text: string, value: unknown): string {
  if (text.includes('(got ') || text.includes('should not exist')) return '';
  if (value === undefined) return ' (missing)';
  return ` (got ${shortJson(value)})`;
}

/** What was received, as JSON, cut short: a map an env value turned into shows as {"myapp":null}. */
function shortJson(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function readYamlFile(file: string, required: boolean): ConfigLayer {
  if (!existsSync(file)) {
    if (required) throw new ConfigError([`${file}: file not found`]);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([`${file}: not valid YAML (${err instanceof Error ? err.message : String(err)})`]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) throw new ConfigError([`${file}: the top level must be a mapping`]);
  return parsed;
}

/** Where each env-set key came from, so that a problem with its value names the variable. */
type EnvOrigins = Map<string, string>;

function envLayer(env: NodeJS.ProcessEnv, origins: EnvOrigins): ConfigLayer {
  const layer: ConfigLayer = {};
  const set = (name: string, path: string[], value: string): void => {
    setPath(layer, path, parseEnvValue(value, valueKindAt(path)));
    origins.set(path.join('.'), name);
  };
  for (const [name, path] of Object.entries(ENV_SHORTCUTS)) {
    const value = env[name];
    if (value !== undefined && value !== '') set(name, path, value);
  }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((s) => s.toLowerCase());
    if (path.some((segment) => segment === '')) continue;
    set(name, path, value);
  }
  return layer;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/**
 * An env var's text, read as the schema's kind at its key: strings stay strings, numbers and booleans are
 * parsed, lists and maps are JSON or YAML. Text that is not of the kind stays text, so validation reports it
 * as received.
 */
export function parseEnvValue(value: string, kind: ValueKind): unknown {
  switch (kind) {
    case 'number':
      return NUMBER.test(value.trim()) ? Number(value) : value;
    case 'boolean': {
      const lower = value.trim().toLowerCase();
      return lower === 'true' ? true : lower === 'false' ? false : value;
    }
    case 'list':
    case 'map':
      return parseYamlOr(value);
    case 'scalar': {
      const parsed = parseYamlOr(value);
      return typeof parsed === 'object' && parsed !== null ? value : parsed;
    }
    case 'string':
    case 'unit':
    case 'unknown':
      return value;
  }
}

/** YAML (or JSON) text parsed; the text itself when it is not YAML, so validation shows what was sent. */
function parseYamlOr(text: string): unknown {
  try {
    return parseYaml(text) as unknown;
  } catch {
    return text;
  }
}

function setPath(target: ConfigLayer, path: string[], value: unknown): void {
  let node = target;
  path.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (!isPlainObject(next)) node[key] = {};
    node = node[key] as ConfigLayer;
  });
  node[path[path.length - 1]!] = value;
}

/** Lists of records that overlays merge by `id` (a record with a known id updates it, a new id is appended). */
const MERGED_BY_ID = new Set(['models', 'routing.virtual_models']);
/** `key: { $replace: [...] }` in an overlay replaces the whole value instead of merging into it. */
const REPLACE = '$replace';
/** `- { id: x, $remove: true }` in an overlay's `models` (or virtual_models) takes that record out. */
const REMOVE = '$remove';

/**
 * One layer over another: mappings merge key by key; `models` and `routing.virtual_models` merge by id;
 * other lists and scalars replace; `{ $replace: value }` replaces whatever was there.
 */
export function deepMerge(base: ConfigLayer, overlay: ConfigLayer, path = ''): ConfigLayer {
  const out: ConfigLayer = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const here = path ? `${path}.${key}` : key;
    const current = out[key];
    if (isPlainObject(value) && REPLACE in value) out[key] = value[REPLACE];
    else if (MERGED_BY_ID.has(here) && Array.isArray(value)) {
      out[key] = mergeById(Array.isArray(current) ? current : [], value);
    } else if (isPlainObject(current) && isPlainObject(value)) out[key] = deepMerge(current, value, here);
    else out[key] = value;
  }
  return out;
}

function mergeById(base: unknown[], overlay: unknown[]): unknown[] {
  const out = [...base];
  const idOf = (item: unknown): unknown => (isPlainObject(item) ? item.id : undefined);
  for (const item of overlay) {
    const id = idOf(item);
    const at = typeof id === 'string' ? out.findIndex((existing) => idOf(existing) === id) : -1;
    if (isPlainObject(item) && item[REMOVE] === true) {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0 && isPlainObject(item)) {
      const existing = out[at];
      out[at] = isPlainObject(existing) ? deepMerge(existing, item) : item;
    } else out.push(item);
  }
  return out;
}

function isPlainObject(value: unknown): value is ConfigLayer {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
