/**
 * Values as Go's text/template sees them when Helm renders a chart, and the few pieces of Go's fmt and
 * encoding/json that the renderer needs. The type mapping keeps the distinctions that change what Helm prints:
 *   string -> string; bool -> boolean; nil -> null
 *   int / int64 (template literals, sprig arithmetic, int) -> bigint
 *   float64 (every number read from values.yaml: Helm decodes values through JSON) -> number
 *   map[string]interface{} -> Map; []interface{} -> array
 *   a Go struct (.Chart, .Capabilities) -> GoStruct: a missing field is an error, as in Go.
 */
export type GoValue = null | boolean | string | number | bigint | GoValue[] | GoMap | GoStruct;
export type GoMap = Map<string, GoValue>;

export type GoMethod = (args: GoValue[]) => GoValue;

export class GoStruct {
  constructor(
    readonly typeName: string,
    readonly fields: ReadonlyMap<string, GoValue>,
    readonly methods: ReadonlyMap<string, GoMethod> = new Map(),
  ) {}
}

export class TemplateError extends Error {
  override name = 'TemplateError';
}

export function isMap(value: GoValue): value is GoMap {
  return value instanceof Map;
}

/** Go's type name of a value, for error messages like Go's. */
export function goTypeName(value: GoValue): string {
  if (value === null) return '<nil>';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'float64';
  if (Array.isArray(value)) return '[]interface {}';
  if (value instanceof Map) return 'map[string]interface {}';
  return value.typeName;
}

/** text/template's truth: false, 0, nil, and empty strings, slices and maps are false (sprig's `empty` agrees). */
export function truthy(value: GoValue): boolean {
  if (value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.length > 0;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'bigint') return value !== 0n;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Map) return value.size > 0;
  return true;
}

/** Plain JavaScript (a parsed YAML document) as Helm's values: objects become maps, every number float64. */
export function fromPlain(value: unknown, path = 'values'): GoValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item, i) => fromPlain(item, `${path}[${i}]`));
  if (value instanceof Map) {
    const out: GoMap = new Map();
    for (const [k, v] of value as Map<unknown, unknown>) out.set(String(k), fromPlain(v, `${path}.${String(k)}`));
    return out;
  }
  if (typeof value === 'object') {
    const out: GoMap = new Map();
    for (const [k, v] of Object.entries(value)) out.set(k, fromPlain(v, `${path}.${k}`));
    return out;
  }
  throw new TemplateError(`${path}: cannot use a ${typeof value} as a Helm value`);
}

/** A Go value as what encoding/json would produce, decoded again into plain JavaScript (toJson / toYaml). */
export function toPlain(value: GoValue): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new TemplateError(`integer ${value} is outside what this renderer encodes exactly`);
    }
    return Number(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TemplateError(`json: unsupported value: ${formatFloat(value)}`);
    return value;
  }
  if (Array.isArray(value)) return value.map(toPlain);
  const out: Record<string, unknown> = {};
  const entries = value instanceof Map ? [...value] : [...value.fields];
  for (const [k, v] of entries.sort(([a], [b]) => compareBytes(a, b))) out[k] = toPlain(v);
  return out;
}

/** Go sorts map keys by bytes; for the ASCII keys of a chart this is code unit order. */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** encoding/json.Marshal: sorted keys, and <, >, & and U+2028/U+2029 escaped as Go does by default. */
export function goJson(value: GoValue): string {
  return JSON.stringify(toPlain(value)).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** fmt's %v of a float64: strconv's 'g' with the shortest digits, which switches to %e for an exponent below -4
 * or from 6 up: 1000000 prints as 1e+06 (the reason to quote or `int` large numbers in a chart). */
export function formatFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  // Shortest round-trip digits, as strconv finds them; JavaScript's toExponential() gives the same digits.
  const [mantissa, exp] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exp);
  if (exponent < -4 || exponent >= 6) {
    // Go writes at least two exponent digits: 1e+06, 1.5e-07.
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  // Plain notation with exactly the shortest digits.
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const point = exponent + 1;
  let text: string;
  if (point <= 0) text = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) text = digits + '0'.repeat(point - digits.length);
  else text = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${text}` : text;
}

/** fmt's %v (what an action prints, and sprig's toString). nil at the top prints as text/template does. */
export function formatValue(value: GoValue, nested = false): string {
  if (value === null) return nested ? '<nil>' : '<no value>';
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'number') return formatFloat(value);
  if (Array.isArray(value)) return `[${value.map((v) => formatValue(v, true)).join(' ')}]`;
  if (value instanceof Map) {
    const keys = [...value.keys()].sort(compareBytes);
    return `map[${keys.map((k) => `${k}:${formatValue(value.get(k) ?? null, true)}`).join(' ')}]`;
  }
  return `{${[...value.fields.values()].map((v) => formatValue(v, true)).join(' ')}}`;
}

/** sprig's strval: a string as is, anything else as fmt's %v (nil is "<nil>"). */
export function stringValue(value: GoValue): string {
  return formatValue(value, true);
}

/** strconv.Quote (fmt's %q of a string): Go escapes, printable Unicode kept. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code === 0xfeff || (code >= 0x80 && code < 0xa0) || code === 0x2028 || code === 0x2029) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}
