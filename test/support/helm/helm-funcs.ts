import { createHash } from 'node:crypto';
import { RE2JS } from 're2js';
import { stringify as stringifyYaml } from 'yaml';
import type { FuncSpec, FuncTable, LazyFuncSpec, ParamType } from './go-template-exec';
import {
  compareBytes,
  formatValue,
  goJson,
  goQuote,
  type GoMap,
  type GoValue,
  goTypeName,
  isMap,
  stringValue,
  TemplateError,
  toPlain,
  truthy,
} from './go-values';

/**
 * The functions a Helm chart may call here: text/template's builtins (and, or, not, eq, ne, lt, le, gt, ge, len,
 * index, print, printf, println), a subset of Sprig with Sprig's semantics (argument order, int64 arithmetic,
 * cast's conversions, strval), and Helm's own include, tpl, required, fail, toYaml, toJson. Any other name is
 * "not defined", which the parser reports for the whole file, as Helm does.
 */

function fn(params: ParamType[], call: (args: GoValue[]) => GoValue, variadic?: ParamType): FuncSpec {
  return variadic ? { params, variadic, call } : { params, call };
}

const str = (v: GoValue): string => v as string;
const int = (v: GoValue): number => Number(v);

/** cast.ToInt64E as Sprig uses it (errors become 0): strings in Go syntax with base prefixes, floats truncated. */
export function toInt64(value: GoValue): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? BigInt(Math.trunc(value)) : 0n;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (typeof value === 'string') {
    const s = value.replace(/\.0*$/, ''); // cast trims a zero decimal part ("8.0" is 8)
    const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[1-9][0-9]*|0)$/.exec(s);
    if (!m) return 0n;
    const body = m[2]!;
    const digits = /^0[0-7]+$/.test(body) ? `0o${body.slice(1)}` : body.replace(/^0[oO]/, '0o');
    const v = BigInt(digits);
    return m[1] === '-' ? -v : v;
  }
  return 0n;
}

/** strconv.Atoi: decimal only; errors become 0 (Sprig's atoi). */
function atoi(s: string): bigint {
  return /^[+-]?[0-9]+$/.test(s) ? BigInt(s) : 0n;
}

/** Go's comparison kinds (text/template's basicKind). */
type Kind = 'bool' | 'int' | 'float' | 'string' | 'nil' | 'other';
function kindOf(v: GoValue): Kind {
  if (v === null) return 'nil';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'float';
  if (typeof v === 'string') return 'string';
  return 'other';
}

function eq(a: GoValue, b: GoValue): boolean {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka !== kb) {
    if (ka === 'nil' || kb === 'nil') return false;
    throw new TemplateError('incompatible types for comparison');
  }
  if (ka === 'other') throw new TemplateError(`non-comparable type ${goTypeName(a)}`);
  return a === b;
}

function lt(a: GoValue, b: GoValue): boolean {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka === 'nil' || kb === 'nil' || ka === 'other' || kb === 'other' || ka === 'bool' || kb === 'bool') {
    throw new TemplateError(`invalid type for comparison`);
  }
  if (ka !== kb) throw new TemplateError('incompatible types for comparison');
  return (a as string | number | bigint) < (b as string | number | bigint);
}

/** fmt.Sprintf for the verbs charts use: %s %d %q %v %t and %%, with width and the - and 0 flags. */
export function sprintf(format: string, args: GoValue[]): string {
  let argIndex = 0;
  const out = format.replace(/%([-0]*)(\d*)([a-zA-Z%])/g, (whole, flags: string, width: string, verb: string) => {
    if (verb === '%') return '%';
    if (argIndex >= args.length) throw new TemplateError(`printf: missing argument for ${whole}`);
    const arg = args[argIndex++]!;
    let text: string;
    switch (verb) {
      case 's':
        if (typeof arg !== 'string') throw new TemplateError(`printf: %s of a ${goTypeName(arg)}`);
        text = arg;
        break;
      case 'd':
        if (typeof arg !== 'bigint') throw new TemplateError(`printf: %d of a ${goTypeName(arg)}`);
        text = String(arg);
        break;
      case 'q':
        if (typeof arg !== 'string') throw new TemplateError(`printf: %q of a ${goTypeName(arg)}`);
        text = goQuote(arg);
        break;
      case 't':
        if (typeof arg !== 'boolean') throw new TemplateError(`printf: %t of a ${goTypeName(arg)}`);
        text = String(arg);
        break;
      case 'v':
        text = formatValue(arg, true);
        break;
      default:
        throw new TemplateError(`printf: the verb %${verb} is not supported by this renderer`);
    }
    const w = width ? Number(width) : 0;
    if (text.length >= w) return text;
    if (flags.includes('-')) return text.padEnd(w);
    if (flags.includes('0') && verb === 'd') {
      return text.startsWith('-') ? `-${text.slice(1).padStart(w - 1, '0')}` : text.padStart(w, '0');
    }
    return text.padStart(w);
  });
  if (argIndex < args.length) {
    throw new TemplateError(`printf: ${args.length - argIndex} extra argument(s) for ${JSON.stringify(format)}`);
  }
  return out;
}

/** fmt.Sprint: operands separated by a space when neither side is a string. */
function sprint(args: GoValue[]): string {
  let out = '';
  args.forEach((arg, i) => {
    if (i > 0 && typeof arg !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatValue(arg, true);
  });
  return out;
}

function strslice(v: GoValue): string[] {
  if (Array.isArray(v)) return v.filter((x) => x !== null).map(stringValue);
  if (v === null) return [];
  return [stringValue(v)];
}

/** Helm's toYaml (sigs.k8s.io/yaml: through JSON, then YAML with sorted keys), without the final newline. */
export function toYaml(v: GoValue): string {
  const text = stringifyYaml(toPlain(v), {
    version: '1.1',
    sortMapEntries: true,
    indentSeq: false,
    lineWidth: 0,
  });
  return text.replace(/\n$/, '');
}

function indent(spaces: number, text: string): string {
  const pad = ' '.repeat(spaces);
  return pad + text.replaceAll('\n', `\n${pad}`);
}

const regexCache = new Map<string, RE2JS>();
function regex(pattern: string): RE2JS {
  let compiled = regexCache.get(pattern);
  if (!compiled) {
    compiled = RE2JS.compile(pattern);
    regexCache.set(pattern, compiled);
  }
  return compiled;
}

const lazyAnd: LazyFuncSpec = {
  lazy: true,
  call(args) {
    let value: GoValue = null;
    for (const arg of args) {
      value = arg();
      if (!truthy(value)) return value;
    }
    return value;
  },
};

const lazyOr: LazyFuncSpec = {
  lazy: true,
  call(args) {
    let value: GoValue = null;
    for (const arg of args) {
      value = arg();
      if (truthy(value)) return value;
    }
    return value;
  },
};

const table: Array<[string, FuncSpec | LazyFuncSpec]> = [
  // text/template builtins
  ['and', lazyAnd],
  ['or', lazyOr],
  ['not', fn(['any'], ([v]) => !truthy(v!))],
  ['eq', fn(['any', 'any'], ([a, ...rest]) => rest.some((b) => eq(a!, b)), 'any')],
  ['ne', fn(['any', 'any'], ([a, b]) => !eq(a!, b!))],
  ['lt', fn(['any', 'any'], ([a, b]) => lt(a!, b!))],
  ['le', fn(['any', 'any'], ([a, b]) => lt(a!, b!) || eq(a!, b!))],
  ['gt', fn(['any', 'any'], ([a, b]) => !(lt(a!, b!) || eq(a!, b!)))],
  ['ge', fn(['any', 'any'], ([a, b]) => !lt(a!, b!))],
  [
    'len',
    fn(['any'], ([v]) => {
      if (typeof v === 'string') return BigInt(Buffer.byteLength(v));
      if (Array.isArray(v)) return BigInt(v.length);
      if (isMap(v!)) return BigInt(v.size);
      throw new TemplateError(`len of type ${goTypeName(v!)}`);
    }),
  ],
  [
    'index',
    fn(
      ['any'],
      ([item, ...keys]) => {
        let v: GoValue = item!;
        for (const key of keys) {
          if (isMap(v) && typeof key === 'string') v = v.get(key) ?? null;
          else if (Array.isArray(v) && typeof key === 'bigint') {
            if (key < 0n || key >= BigInt(v.length)) throw new TemplateError(`index out of range: ${key}`);
            v = v[Number(key)]!;
          } else throw new TemplateError(`can't index item of type ${goTypeName(v)}`);
        }
        return v;
      },
      'any',
    ),
  ],
  ['print', fn([], (args) => sprint(args), 'any')],
  ['println', fn([], (args) => `${args.map((a) => formatValue(a, true)).join(' ')}\n`, 'any')],
  ['printf', fn(['string'], ([format, ...args]) => sprintf(str(format!), args), 'any')],

  // Sprig: defaults and types
  ['default', fn(['any'], ([d, ...given]) => (given.length > 0 && truthy(given[0]!) ? given[0]! : d!), 'any')],
  ['empty', fn(['any'], ([v]) => !truthy(v!))],
  ['ternary', fn(['any', 'any', 'bool'], ([a, b, c]) => (c ? a! : b!))],
  ['toString', fn(['any'], ([v]) => stringValue(v!))],
  ['int', fn(['any'], ([v]) => toInt64(v!))],
  ['int64', fn(['any'], ([v]) => toInt64(v!))],
  ['atoi', fn(['string'], ([s]) => atoi(str(s!)))],
  ['kindIs', fn(['string', 'any'], ([k, v]) => kindName(v!) === str(k!))],

  // Sprig: strings
  ['quote', fn([], (args) => args.filter((a) => a !== null).map((a) => goQuote(stringValue(a))).join(' '), 'any')],
  [
    'squote',
    fn([], (args) => args.filter((a) => a !== null).map((a) => `'${stringValue(a)}'`).join(' '), 'any'),
  ],
  [
    'trunc',
    fn(['int', 'string'], ([c, s]) => {
      const n = int(c!);
      const text = str(s!);
      if (n < 0 && text.length + n > 0) return text.slice(text.length + n);
      if (n >= 0 && text.length > n) return text.slice(0, n);
      return text;
    }),
  ],
  ['trimSuffix', fn(['string', 'string'], ([a, b]) => (str(b!).endsWith(str(a!)) ? str(b!).slice(0, str(b!).length - str(a!).length) : str(b!)))],
  ['trimPrefix', fn(['string', 'string'], ([a, b]) => (str(b!).startsWith(str(a!)) ? str(b!).slice(str(a!).length) : str(b!)))],
  ['trim', fn(['string'], ([s]) => str(s!).trim())],
  ['lower', fn(['string'], ([s]) => str(s!).toLowerCase())],
  ['upper', fn(['string'], ([s]) => str(s!).toUpperCase())],
  ['contains', fn(['string', 'string'], ([sub, s]) => str(s!).includes(str(sub!)))],
  ['hasPrefix', fn(['string', 'string'], ([p, s]) => str(s!).startsWith(str(p!)))],
  ['hasSuffix', fn(['string', 'string'], ([p, s]) => str(s!).endsWith(str(p!)))],
  ['replace', fn(['string', 'string', 'string'], ([o, n, s]) => str(s!).replaceAll(str(o!), str(n!)))],
  ['indent', fn(['int', 'string'], ([n, s]) => indent(int(n!), str(s!)))],
  ['nindent', fn(['int', 'string'], ([n, s]) => `\n${indent(int(n!), str(s!))}`)],
  ['join', fn(['string', 'any'], ([sep, v]) => strslice(v!).join(str(sep!)))],
  ['regexMatch', fn(['string', 'string'], ([re, s]) => regex(str(re!)).test(str(s!)))],
  [
    'regexReplaceAllLiteral',
    fn(['string', 'string', 'string'], ([re, s, repl]) => regex(str(re!)).matcher(str(s!)).replaceAll(() => str(repl!))),
  ],
  ['b64enc', fn(['string'], ([s]) => Buffer.from(str(s!), 'utf8').toString('base64'))],
  ['sha256sum', fn(['string'], ([s]) => createHash('sha256').update(str(s!), 'utf8').digest('hex'))],

  // Sprig: integer math (int64)
  ['add', fn([], (args) => args.reduce<bigint>((sum, a) => sum + toInt64(a), 0n), 'any')],
  ['sub', fn(['any', 'any'], ([a, b]) => toInt64(a!) - toInt64(b!))],
  ['mul', fn(['any'], ([a, ...rest]) => rest.reduce<bigint>((p, v) => p * toInt64(v), toInt64(a!)), 'any')],
  [
    'div',
    fn(['any', 'any'], ([a, b]) => {
      const d = toInt64(b!);
      if (d === 0n) throw new TemplateError('runtime error: integer divide by zero');
      return toInt64(a!) / d;
    }),
  ],
  [
    'mod',
    fn(['any', 'any'], ([a, b]) => {
      const d = toInt64(b!);
      if (d === 0n) throw new TemplateError('runtime error: integer divide by zero');
      return toInt64(a!) % d;
    }),
  ],
  ['max', fn(['any'], ([a, ...rest]) => rest.map(toInt64).reduce((m, v) => (v > m ? v : m), toInt64(a!)), 'any')],
  ['min', fn(['any'], ([a, ...rest]) => rest.map(toInt64).reduce((m, v) => (v < m ? v : m), toInt64(a!)), 'any')],

  // Sprig: dicts and lists
  [
    'dict',
    fn(
      [],
      (args) => {
        const out: GoMap = new Map();
        for (let i = 0; i < args.length; i += 2) out.set(stringValue(args[i]!), i + 1 < args.length ? args[i + 1]! : '');
        return out;
      },
      'any',
    ),
  ],
  ['list', fn([], (args) => [...args], 'any')],
  [
    'append',
    fn(['any', 'any'], ([l, v]) => {
      if (!Array.isArray(l)) throw new TemplateError(`Cannot push on type ${goTypeName(l!)}`);
      return [...l, v!];
    }),
  ],
  [
    'has',
    fn(['any', 'any'], ([needle, haystack]) => {
      if (haystack === null) return false;
      if (!Array.isArray(haystack)) throw new TemplateError(`Cannot find has on type ${goTypeName(haystack!)}`);
      return haystack.some((item) => deepEqual(item, needle!));
    }),
  ],
  ['hasKey', fn(['mapOrNil', 'string'], ([d, k]) => d !== null && (d as GoMap).has(str(k!)))],
  ['get', fn(['mapOrNil', 'string'], ([d, k]) => (d === null ? '' : ((d as GoMap).get(str(k!)) ?? '')))],
  [
    'set',
    fn(['map', 'string', 'any'], ([d, k, v]) => {
      (d as GoMap).set(str(k!), v!);
      return d!;
    }),
  ],
  [
    'unset',
    fn(['map', 'string'], ([d, k]) => {
      (d as GoMap).delete(str(k!));
      return d!;
    }),
  ],
  ['keys', fn([], (maps) => maps.flatMap((m) => [...asMap(m).keys()]), 'mapOrNil')],
  ['sortAlpha', fn(['any'], ([l]) => strslice(l!).sort(compareBytes))],

  // Helm
  [
    'include',
    {
      params: ['string', 'any'],
      call: ([name, data], ctx) => ctx.include(str(name!), data!),
    },
  ],
  [
    'tpl',
    {
      params: ['string', 'map'],
      call: ([text, data], ctx) => ctx.tpl(str(text!), data!),
    },
  ],
  [
    'required',
    fn(['string', 'any'], ([message, v]) => {
      if (v === null || v === '') throw new TemplateError(str(message!));
      return v!;
    }),
  ],
  [
    'fail',
    fn(['string'], ([message]) => {
      throw new TemplateError(str(message!));
    }),
  ],
  ['toYaml', fn(['any'], ([v]) => toYaml(v!))],
  ['toJson', fn(['any'], ([v]) => goJson(v!))],
];

/** reflect.DeepEqual for values (an int and a float64 are never equal). */
function deepEqual(a: GoValue, b: GoValue): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]!));
  if (isMap(a) && isMap(b)) {
    return a.size === b.size && [...a].every(([k, v]) => b.has(k) && deepEqual(v, b.get(k)!));
  }
  return a === b;
}

function asMap(v: GoValue): GoMap {
  return v === null ? new Map<string, GoValue>() : (v as GoMap);
}

/** reflect.Kind names, as Sprig's kindIs compares them. */
function kindName(v: GoValue): string {
  if (v === null) return 'invalid';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'float64';
  if (Array.isArray(v)) return 'slice';
  if (isMap(v)) return 'map';
  return 'struct';
}

export const HELM_FUNCS: FuncTable = new Map(table);
