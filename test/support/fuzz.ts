/**
 * Generic fuzzing generators, independent of any protocol: a seeded PRNG (print its seed: the same seed
 * gives the same inputs), random strings (control characters, unicode edge cases, huge), random JSON values,
 * and mutations of JSON values and of text. Protocol fuzzers (GraphQL, REST, WebSocket) build on these.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** sfc32, seeded through splitmix32: fast, small, and good enough to find bugs reproducibly. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.float();
  }

  /** A seed from the environment variable `name` (to replay a failure), else a fresh one. */
  static seedFrom(name: string, env: NodeJS.ProcessEnv = process.env): number {
    const given = env[name];
    if (given !== undefined && /^\d+$/.test(given)) return Number(given) >>> 0;
    return (Date.now() ^ (process.pid << 16)) >>> 0;
  }

  /** In [0, 1). */
  float(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4_294_967_296;
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.float() * max);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick: no items');
    return items[this.int(items.length)]!;
  }

  /** One of the entries, by weight: `[[3, 'a'], [1, 'b']]` gives 'a' three times as often. */
  weighted<T>(entries: ReadonlyArray<readonly [number, T]>): T {
    const total = entries.reduce((sum, [weight]) => sum + weight, 0);
    let at = this.float() * total;
    for (const [weight, value] of entries) {
      at -= weight;
      if (at < 0) return value;
    }
    return entries[entries.length - 1]![1];
  }
}

const ASCII =
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:;!?@#$%^&*()[]{}<>"\'`\\/|~+=';
const CONTROL = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).concat(['\u007f']);
/** Code points that break naive text handling: BOM, zero-width, bidi controls, separators, combining marks,
 * lone surrogates, non-characters, astral symbols. */
const UNICODE = [
  '\ufeff',
  '\u200b',
  '\u200d',
  '\u202e',
  '\u2066',
  '\u2028',
  '\u2029',
  '\u0301',
  '\u00e9',
  'é',
  '\ud800',
  '\udfff',
  '\uffff',
  '\ufffe',
  '\u0000',
  '😀',
  '𝕏',
  '👩‍👩‍👧',
  '中文',
  'ع',
  '\u{10ffff}',
];

export interface StringOptions {
  /** Longest ordinary string (huge ones are separate). */
  maxLength?: number;
  /** Chance of a huge string (`hugeLength` characters). */
  hugeChance?: number;
  hugeLength?: number;
}

/** A random string: ASCII, control characters, unicode edge cases, or (rarely) a huge run. */
export function randomString(rng: Prng, options: StringOptions = {}): string {
  const { maxLength = 40, hugeChance = 0.01, hugeLength = 100_000 } = options;
  if (rng.chance(hugeChance)) return hugeString(rng, hugeLength);
  const length = rng.int(maxLength + 1);
  let out = '';
  for (let i = 0; i < length; i++) {
    out += rng.weighted<() => string>([
      [8, () => ASCII[rng.int(ASCII.length)]!],
      [1, () => rng.pick(CONTROL)],
      [1, () => rng.pick(UNICODE)],
      [0.5, () => String.fromCharCode(rng.int(0x10000))],
    ])();
  }
  return out;
}

/** `length` characters of one repeated unit (a letter, a multi-byte symbol, a quote, a brace...). */
export function hugeString(rng: Prng, length: number): string {
  const unit = rng.pick(['a', 'é', '😀', '"', '\\', '{', '[', '\u0000', ' ', '\n']);
  return unit.repeat(Math.max(1, Math.floor(length / unit.length)));
}

/** Numbers that break naive handling: zero and negative zero, fractions, huge, tiny, unsafe integers. */
export function randomNumber(rng: Prng): number {
  return rng.weighted<() => number>([
    [3, () => rng.between(-10, 1000)],
    [1, () => rng.pick([0, -0, 1, -1, 0.5, -0.5, 2 ** 31, -(2 ** 31), 2 ** 53, -(2 ** 53) - 1])],
    [1, () => rng.pick([Number.MAX_VALUE, Number.MIN_VALUE, 1e308, -1e308, 1e-308, 123456789.12345679])],
    [1, () => (rng.float() - 0.5) * 10 ** rng.int(20)],
  ])();
}

/** Keys that collide with object machinery, or are empty, long or odd. */
const ODD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '',
  ' ',
  '$ref',
  'null',
  '0',
  '-1',
  'a.b',
];

export interface JsonOptions {
  /** Deepest nesting of arrays and objects. */
  maxDepth?: number;
  /** Most entries of one array or object. */
  maxWidth?: number;
  string?: StringOptions;
}

/** A random JSON value (what JSON.parse could give). */
export function randomJson(rng: Prng, options: JsonOptions = {}, depth = 0): Json {
  const { maxDepth = 4, maxWidth = 6 } = options;
  const leaf = depth >= maxDepth;
  return rng.weighted<() => Json>([
    [1, () => null],
    [1, () => rng.chance(0.5)],
    [2, () => randomNumber(rng)],
    [3, () => randomString(rng, options.string)],
    [
      leaf ? 0 : 2,
      () => Array.from({ length: rng.int(maxWidth + 1) }, () => randomJson(rng, options, depth + 1)),
    ],
    [leaf ? 0 : 2, () => randomObject(rng, options, depth + 1)],
  ])();
}

function randomObject(rng: Prng, options: JsonOptions, depth: number): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  const width = rng.int((options.maxWidth ?? 6) + 1);
  for (let i = 0; i < width; i++) {
    const key = rng.chance(0.2) ? rng.pick(ODD_KEYS) : randomString(rng, { maxLength: 12, hugeChance: 0 });
    // defineProperty: `__proto__` becomes an own key, as JSON.parse makes it.
    Object.defineProperty(out, key, {
      value: randomJson(rng, options, depth),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** An array or object nested `depth` levels deep (as JSON, `[[[...]]]` or `{"a":{"a":...}}`), built as text. */
export function deepJsonText(depth: number, kind: 'array' | 'object' = 'array'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/**
 * One random change to a JSON value: a value replaced (by another type, a random value, a deep or huge one),
 * a key removed or added, an array entry duplicated or dropped, the value wrapped in an array. Never mutates
 * its input.
 */
export function mutateJson(rng: Prng, value: Json, options: JsonOptions = {}): Json {
  const paths = collectPaths(value);
  const path = rng.pick(paths);
  return updateAt(value, path, (target) => mutateOne(rng, target, options));
}

function mutateOne(rng: Prng, target: Json, options: JsonOptions): Json {
  return rng.weighted<() => Json>([
    [3, () => randomJson(rng, options)],
    [1, () => null],
    [1, () => (typeof target === 'string' ? mutateText(rng, target) : String(JSON.stringify(target)))],
    [1, () => [target]],
    [1, () => ({ value: target })],
    [1, () => (typeof target === 'number' ? -target : randomNumber(rng))],
    [0.3, () => JSON.parse(deepJsonText(rng.between(50, 3_000), rng.pick(['array', 'object']))) as Json],
    [0.3, () => hugeString(rng, rng.pick([1_000, 10_000, 100_000]))],
    [
      1,
      () => {
        if (Array.isArray(target)) {
          const copy = [...target];
          if (copy.length > 0 && rng.chance(0.5)) copy.splice(rng.int(copy.length), 1);
          else copy.push(copy.length > 0 ? rng.pick(copy) : randomJson(rng, options));
          return copy;
        }
        if (isObject(target)) {
          const copy: { [key: string]: Json } = { ...target };
          const keys = Object.keys(copy);
          if (keys.length > 0 && rng.chance(0.5)) delete copy[rng.pick(keys)];
          else {
            const key = rng.chance(0.3) ? rng.pick(ODD_KEYS) : randomString(rng, { maxLength: 10 });
            Object.defineProperty(copy, key, {
              value: randomJson(rng, options),
              enumerable: true,
              writable: true,
              configurable: true,
            });
          }
          return copy;
        }
        return randomJson(rng, options);
      },
    ],
  ])();
}

/**
 * One random change to a text: a range deleted, duplicated or moved, random characters inserted, one character
 * replaced, the text cut short, or a run of one character repeated. Works on UTF-16 units, so it can split a
 * surrogate pair (on purpose).
 */
export function mutateText(rng: Prng, text: string): string {
  const at = rng.int(text.length + 1);
  const span = Math.min(text.length - at, rng.between(1, 12));
  return rng.weighted<() => string>([
    [2, () => text.slice(0, at) + text.slice(at + span)],
    [2, () => text.slice(0, at) + randomString(rng, { maxLength: 8, hugeChance: 0 }) + text.slice(at)],
    [
      1,
      () => text.slice(0, at) + text.slice(at, at + span).repeat(rng.between(2, 50)) + text.slice(at + span),
    ],
    [1, () => text.slice(0, at) + rng.pick(ASCII.split('')) + text.slice(at + 1)],
    [1, () => text.slice(0, at)],
    [
      1,
      () => {
        const piece = text.slice(at, at + span);
        const rest = text.slice(0, at) + text.slice(at + span);
        const to = rng.int(rest.length + 1);
        return rest.slice(0, to) + piece + rest.slice(to);
      },
    ],
    [
      0.5,
      () =>
        text.slice(0, at) +
        rng.pick(['{', '[', '(', '"', '\\', '...']).repeat(rng.between(10, 2_000)) +
        text.slice(at),
    ],
  ])();
}

/** Several mutations in a row (1 to `most`). */
export function mutateTextTimes(rng: Prng, text: string, most = 3): string {
  let out = text;
  for (let i = rng.between(1, most); i > 0; i--) out = mutateText(rng, out);
  return out;
}

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Path = Array<string | number>;

/** Paths into a value, breadth first, at most `MAX_PATH_DEPTH` deep and `MAX_PATHS` of them (a deep or
 * huge value is mutated near its top). */
const MAX_PATH_DEPTH = 32;
const MAX_PATHS = 5_000;

function collectPaths(value: Json): Path[] {
  const out: Path[] = [];
  const queue: Array<{ value: Json; path: Path }> = [{ value, path: [] }];
  for (let i = 0; i < queue.length && out.length < MAX_PATHS; i++) {
    const { value: at, path } = queue[i]!;
    out.push(path);
    if (path.length >= MAX_PATH_DEPTH || queue.length >= MAX_PATHS) continue;
    if (Array.isArray(at)) at.forEach((item, k) => queue.push({ value: item, path: [...path, k] }));
    else if (isObject(at))
      for (const key of Object.keys(at)) queue.push({ value: at[key]!, path: [...path, key] });
  }
  return out;
}

function updateAt(value: Json, path: Path, update: (target: Json) => Json): Json {
  if (path.length === 0) return update(value);
  const [head, ...rest] = path;
  if (Array.isArray(value) && typeof head === 'number') {
    const copy = [...value];
    copy[head] = updateAt(value[head]!, rest, update);
    return copy;
  }
  if (isObject(value) && typeof head === 'string') {
    return { ...value, [head]: updateAt(value[head]!, rest, update) };
  }
  return value;
}

/** Counts (of outcomes, or any amount) by label, printable as one line each, largest first. */
export class Tally {
  private readonly counts = new Map<string, number>();

  add(label: string, amount = 1): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + amount);
  }

  get total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  count(label: string): number {
    return this.counts.get(label) ?? 0;
  }

  toString(): string {
    return [...this.counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([label, n]) => `  ${String(n).padStart(6)}  ${label}`)
      .join('\n');
  }
}
