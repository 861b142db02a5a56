import { PiiRuleSet, type PiiMatch, type SanitizerOptions } from './pii-rule-set';
import { StreamSanitizer } from './stream-sanitizer';

export type { PiiMatch, SanitizerOptions } from './pii-rule-set';
export { StreamSanitizer } from './stream-sanitizer';

export const REDACTED = '[redacted]';
const MAX_SCRUB_DEPTH = 32;

/** Parts of a normalised key name (lower case, letters and digits only) that say its value is a credential. */
const CREDENTIAL_PARTS =
  /apikey|secret|passw|passphrase|credential|cookie|authoriz|privatekey|accesskey|bearer/;
const CREDENTIAL_NAMES = new Set(['auth', 'pwd', 'jwt', 'signature']);

function normaliseKey(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** `api_key`, `X-Api-Key`, `accessToken`, `client_secret`, `Set-Cookie`…; not `max_tokens` nor `tokenizer`. */
export function isCredentialKey(name: string): boolean {
  const plain = normaliseKey(name);
  return CREDENTIAL_NAMES.has(plain) || plain.endsWith('token') || CREDENTIAL_PARTS.test(plain);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * PII masking for whole texts, streams and JSON-like values. Pure: no I/O, no Nest; compiled once per
 * configuration, then safe to share (every call is synchronous).
 */
export class PiiSanitizer {
  /** False when no entity and no custom rule is configured: mask() and streams pass text through. */
  readonly enabled: boolean;
  private readonly rules: PiiRuleSet;
  private readonly metadataKeys: ReadonlySet<string>;

  /** Throws an Error on a custom rule that does not compile, or on the hash style without a key. */
  constructor(options: SanitizerOptions) {
    this.rules = new PiiRuleSet(options);
    this.enabled = this.rules.enabled;
    this.metadataKeys = new Set((options.metadataKeys ?? []).map(normaliseKey));
  }

  /** Non-overlapping matches, sorted by start. */
  find(text: string): PiiMatch[] {
    return this.rules.find(text);
  }

  /** The whole text masked; the same string when nothing matched. */
  mask(text: string): string {
    return this.rules.mask(text);
  }

  /** A fresh masker for one stream. */
  stream(): StreamSanitizer {
    return new StreamSanitizer(this.rules);
  }

  /**
   * A deep copy with every string masked; the values of credential-looking keys (and of `metadataKeys`) become
   * '[redacted]', as do cycles and anything nested deeper than 32 levels. Keys are kept as they are; objects that
   * are not plain (Date, Buffer, class instances) are returned as they are.
   */
  scrub<T>(value: T): T {
    return this.scrubValue(value, 0, new Set<object>()) as T;
  }

  private scrubValue(value: unknown, depth: number, path: Set<object>): unknown {
    if (typeof value === 'string') return this.mask(value);
    if (value === null || typeof value !== 'object') return value;
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) return value;
    if (path.has(value) || depth >= MAX_SCRUB_DEPTH) return REDACTED;
    path.add(value);
    let copy: unknown;
    if (isArray) {
      copy = value.map((item: unknown) => this.scrubValue(item, depth + 1, path));
    } else {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const scrubbed = this.isRedactedKey(key) ? REDACTED : this.scrubValue(item, depth + 1, path);
        if (key === '__proto__') {
          Object.defineProperty(out, key, {
            value: scrubbed,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } else out[key] = scrubbed;
      }
      copy = out;
    }
    path.delete(value);
    return copy;
  }

  private isRedactedKey(key: string): boolean {
    return isCredentialKey(key) || (this.metadataKeys.size > 0 && this.metadataKeys.has(normaliseKey(key)));
  }
}
