import { isSecretProperty } from './config.decorators';

const MASK = '[redacted]';

/** A plain copy of a config object with every @Secret() value masked (URLs keep host, lose credentials). */
export function redactConfig(value: unknown): unknown {
  if (value instanceof Map) {
    return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), redactConfig(v)]));
  }
  if (Array.isArray(value)) return value.map((item) => redactConfig(item));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] = isSecretProperty(value, key) ? maskSecret(child) : redactConfig(child);
  }
  return out;
}

function maskSecret(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      const url = new URL(value);
      if (!url.username && !url.password) return value;
      return `${url.protocol}//${MASK}@${url.host}${url.pathname === '/' ? '' : url.pathname}`;
    } catch {
      return MASK;
    }
  }
  return MASK;
}
