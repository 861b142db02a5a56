import { createHmac } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { MaskStyle, PiiEntityName } from '../config/app-config';

/**
 * PII detectors and the rule set that runs them.
 *
 * A detector is a global regular expression, an optional check of what it matched (Luhn, mod-97…), and a probe
 * that answers the question streaming needs: "from which index on could an attempt of this expression still read
 * past the end of this text?". Every expression here only consumes characters of a small set and looks at most
 * two characters ahead, so the probe is "the trailing run of that set, where it can start a match". Text before
 * the earliest such index can be masked and released: more input cannot change what is found there.
 */

export interface CustomPiiRuleOptions {
  name: string;
  pattern: string;
  flags?: string;
  max_length: number;
}

export interface SanitizerOptions {
  /** Built-in entities enabled. */
  entities: readonly PiiEntityName[];
  customRules: readonly CustomPiiRuleOptions[];
  maskStyle: MaskStyle;
  /** HMAC-SHA256 key for the `hash` style. */
  hashKey?: string;
  /** Characters a stream may hold back (16..4096). */
  maxHoldback: number;
  /** Extra key names whose values `scrub()` replaces whole. */
  metadataKeys?: readonly string[];
}

/** `entity` is a built-in name or a custom rule's name. */
export interface PiiMatch {
  entity: string;
  start: number;
  end: number;
}

/** A match before overlaps are resolved; `rank` orders detectors when start and length are equal. */
export interface Candidate extends PiiMatch {
  rank: number;
}

/** Raw text kept before a stream's held part, so that look-behinds see what they see in the whole text. */
export const CONTEXT_CHARS = 64;
export const DEFAULT_MAX_HOLDBACK = 256;
const MIN_HOLDBACK = 16;
const MAX_HOLDBACK = 4096;
const MAX_STARS = 32;

// ---------------------------------------------------------------------------------------------------------------
// Character sets (ASCII only: every built-in expression is ASCII-only).

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;

export type CharSet = Uint8Array;

export function charSet(chars: string): CharSet {
  const set = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) set[chars.charCodeAt(i)] = 1;
  return set;
}

export function inSet(set: CharSet, code: number): boolean {
  return code < 128 && set[code] === 1;
}

// ---------------------------------------------------------------------------------------------------------------
// Checks on what an expression matched. Each returns the length of the accepted prefix of the match (0: rejected).

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function cardNumberOk(value: string): boolean {
  const groups = value.split(/[ -]/);
  if (groups.length > 1) {
    if (value.includes(' ') && value.includes('-')) return false;
    const lengths = groups.map((g) => g.length);
    const last = lengths.length - 1;
    const byFours = lengths.every((n, i) => (i < last ? n === 4 : n >= 1 && n <= 4));
    const amexLike =
      lengths.length === 3 && lengths[0] === 4 && lengths[1] === 6 && (lengths[2] === 5 || lengths[2] === 4);
    if (!byFours && !amexLike) return false;
  }
  const digits = groups.join('');
  return digits.length >= 13 && digits.length <= 19 && !/^(\d)\1+$/.test(digits) && luhnValid(digits);
}

/** A card number, or a compact one followed by a space and other digits (`4111111111111111 12/25`). */
export function acceptCard(value: string): number {
  if (cardNumberOk(value)) return value.length;
  const space = value.indexOf(' ');
  if (space > 0 && !value.includes('-')) {
    const first = value.slice(0, space);
    if (cardNumberOk(first)) return space;
  }
  return 0;
}

export function ibanValid(compact: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rest = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    rest = code >= 65 ? (rest * 100 + code - 55) % 97 : (rest * 10 + code - 48) % 97;
  }
  return rest === 1;
}

/** Compact, or grouped by four; trailing groups are dropped until the checksum holds (`… 7034 THEN`). */
export function acceptIban(value: string): number {
  let candidate = value;
  for (;;) {
    if (ibanValid(candidate.replace(/ /g, ''))) return candidate.length;
    const space = candidate.lastIndexOf(' ');
    if (space <= 4) return 0;
    candidate = candidate.slice(0, space);
  }
}

/** International numbers hold 8..15 digits (E.164); the North American shapes are fixed by the expression. */
export function acceptPhone(value: string): number {
  if (!value.startsWith('+')) return value.length;
  const digits = value.replace(/\D/g, '').length;
  return digits >= 8 && digits <= 15 ? value.length : 0;
}

function ipv6Ok(value: string): boolean {
  return isIPv6(value) && /[1-9a-fA-F]/.test(value);
}

export function acceptIpv6(value: string): number {
  if (ipv6Ok(value)) return value.length;
  if (value.endsWith(':') && !value.endsWith('::') && ipv6Ok(value.slice(0, -1))) return value.length - 1;
  return 0;
}

/** `sk-` keys must hold a digit somewhere: `sk-learn-is-a-python-library` is prose. */
export function acceptSecret(value: string): number {
  if (value.startsWith('sk-') && !/\d/.test(value.slice(3))) return 0;
  return value.length;
}

export function acceptBearer(value: string): number {
  return /\d/.test(value) || (/[a-z]/.test(value) && /[A-Z]/.test(value)) ? value.length : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Detectors.

export interface Detector {
  readonly entity: string;
  /** Global; a match is a candidate when `accept` (if any) returns a length > 0. */
  readonly pattern: RegExp;
  readonly accept?: (value: string) => number;
  /** The earliest index in [from, text.length) where an attempt may still read past the end; text.length if none. */
  openStart(text: string, from: number): number;
}

/**
 * Probe for an expression that consumes only characters of `set` (and looks ahead within it): an attempt can read
 * past the end only from inside the trailing run of `set`, and `probe` (global, ending in `$`) says where in that
 * run an attempt can start at all.
 */
function trailingRunProbe(
  set: CharSet,
  probe: RegExp,
  maxLength: number,
): (text: string, from: number) => number {
  return (text, from) => {
    const end = text.length;
    const stop = Math.max(from, end - maxLength);
    let i = end;
    while (i > stop && inSet(set, text.charCodeAt(i - 1))) i--;
    if (i === end) return end;
    probe.lastIndex = i;
    const m = probe.exec(text);
    return m === null ? end : m.index;
  };
}

function detector(
  entity: string,
  pattern: RegExp,
  runChars: string,
  probe: RegExp,
  accept?: (value: string) => number,
  /** The longest text `probe` can match (Infinity: unbounded). */
  probeLength = Infinity,
): Detector {
  return { entity, pattern, accept, openStart: trailingRunProbe(charSet(runChars), probe, probeLength) };
}

const EMAIL_LOCAL = ALNUM + '._%+-';
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** `s(?:k(?:-[run]*)?)?`: any non-empty prefix of `literal`, or all of it and a run of `run` characters. */
function prefixOrRun(literal: string, run: string): string {
  let inner = `${escapeRegExp(literal.charAt(literal.length - 1))}[${run}]*`;
  for (let i = literal.length - 2; i >= 0; i--) inner = `${escapeRegExp(literal.charAt(i))}(?:${inner})?`;
  return inner;
}

/** Secret shapes by prefix: what may follow the prefix (as a regex class, and for stream suppression). */
const SECRET_PREFIXES: readonly { literal: string; run: string; chars: string; dots?: number }[] = [
  { literal: 'sk-', run: 'A-Za-z0-9_-', chars: ALNUM + '_-' },
  { literal: 'AKIA', run: 'A-Z0-9', chars: UPPER + DIGITS },
  { literal: 'ASIA', run: 'A-Z0-9', chars: UPPER + DIGITS },
  { literal: 'eyJ', run: 'A-Za-z0-9_.-', chars: ALNUM + '_-', dots: 2 },
  { literal: 'AIza', run: 'A-Za-z0-9_-', chars: ALNUM + '_-' },
  ...['ghp_', 'gho_', 'ghs_', 'ghu_', 'ghr_'].map((literal) => ({ literal, run: 'A-Za-z0-9', chars: ALNUM })),
  { literal: 'github_pat_', run: 'A-Za-z0-9_', chars: ALNUM + '_' },
  ...['xoxa-', 'xoxb-', 'xoxp-', 'xoxr-'].map((literal) => ({
    literal,
    run: 'A-Za-z0-9-',
    chars: ALNUM + '-',
  })),
];
const BEARER_TOKEN = ALNUM + '._~+/=-';
const BEARER_BEFORE = '(?<=(?<![A-Za-z0-9_-])[Bb]earer[ \\t]{1,8})';

const BUILT_INS: Record<PiiEntityName, () => Detector[]> = {
  email: () => [
    detector(
      'email',
      /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9_-])/g,
      EMAIL_LOCAL + '@',
      /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+(?:@[A-Za-z0-9.-]*)?$/g,
    ),
  ],
  phone: () => [
    detector(
      'phone',
      new RegExp(
        '(?<![\\w+./-])(?:' +
          '\\+[1-9]\\d{6,14}(?!\\d)' +
          '|\\+[1-9]\\d{0,2}(?:[ .-](?:\\(\\d{1,4}\\)\\d{0,4}|\\d{1,6})){2,6}' +
          '|(?:1[ .-])?(?:\\([2-9]\\d{2}\\) ?[2-9]\\d{2}[ .-]\\d{4}|[2-9]\\d{2}(?<sep>[ .-])[2-9]\\d{2}\\k<sep>\\d{4})' +
          ')(?!\\w|[.-]\\d)',
        'g',
      ),
      DIGITS + ' ().+-',
      /(?<![\w+./-])[+(\d][0-9 ().+-]{0,72}$/g,
      acceptPhone,
      73,
    ),
  ],
  card: () => [
    detector(
      'card',
      /(?<![\w+.-]|\d[ -])\d(?:[ -]?\d){12,18}(?!\w)/g,
      DIGITS + ' -',
      /(?<![\w+.-])\d[0-9 -]{0,40}$/g,
      acceptCard,
      41,
    ),
  ],
  ssn: () => [
    detector(
      'ssn',
      /(?<![\w-])(?<!\d )(?!000|666|9\d\d)\d{3}(?<sep>[- ])(?!00)\d{2}\k<sep>(?!0000)\d{4}(?!\w|-\w|\k<sep>\d)/g,
      DIGITS + ' -',
      /(?<![\w-])\d[0-9 -]{0,13}$/g,
      undefined,
      14,
    ),
  ],
  iban: () => [
    detector(
      'iban',
      /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])/g,
      UPPER + DIGITS + ' ',
      /(?<![A-Za-z0-9])[A-Z](?:[A-Z](?:\d(?:\d[A-Z0-9 ]{0,42})?)?)?$/g,
      acceptIban,
      46,
    ),
  ],
  ipv4: () => [
    detector(
      'ipv4',
      new RegExp(`(?<![\\w.]|[Vv]ersion[: ]{1,2})${OCTET}(?:\\.${OCTET}){3}(?!\\w|\\.\\d)`, 'g'),
      DIGITS + '.',
      /(?<![\w.])\d[0-9.]{0,16}$/g,
      undefined,
      17,
    ),
  ],
  ipv6: () => [
    detector(
      'ipv6',
      /(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:]|\.\d)/g,
      DIGITS + 'abcdefABCDEF:.',
      /(?<![\w:.])[0-9A-Fa-f:][0-9A-Fa-f:.]{0,54}$/g,
      acceptIpv6,
      55,
    ),
  ],
  secret: () => [
    detector(
      'secret',
      new RegExp(
        '(?<![A-Za-z0-9_-])(?:' +
          'sk-[A-Za-z0-9_-]{20,}' +
          '|(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9_-])' +
          '|eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*' +
          '|AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])' +
          '|gh[pousr]_[A-Za-z0-9]{36,}(?![A-Za-z0-9_])' +
          '|github_pat_[A-Za-z0-9_]{22,}' +
          '|xox[abpr]-[A-Za-z0-9-]{10,}' +
          ')',
        'g',
      ),
      ALNUM + '_.-',
      new RegExp(
        `(?<![A-Za-z0-9_-])(?:${SECRET_PREFIXES.map((p) => prefixOrRun(p.literal, p.run)).join('|')})$`,
        'g',
      ),
      acceptSecret,
    ),
    detector(
      'secret',
      new RegExp(`${BEARER_BEFORE}[A-Za-z0-9._~+/-]{16,}=*`, 'g'),
      BEARER_TOKEN,
      new RegExp(`${BEARER_BEFORE}[A-Za-z0-9._~+/=-]+$`, 'g'),
      acceptBearer,
    ),
  ],
};

/** Detector order: it breaks ties between candidates with the same start and length. */
const BUILT_IN_ORDER: readonly PiiEntityName[] = [
  'secret',
  'email',
  'iban',
  'card',
  'ssn',
  'phone',
  'ipv6',
  'ipv4',
];

// ---------------------------------------------------------------------------------------------------------------
// Custom rules.

/** Index of the `)` closing the group opened at `open`, or -1. */
function groupEnd(source: string, open: number): number {
  let depth = 0;
  let inClass = false;
  for (let i = open; i < source.length; i++) {
    const c = source.charAt(i);
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

function hasTopLevelAlternation(source: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source.charAt(i);
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}

const LITERAL_CHAR = /[A-Za-z0-9 _\-:#@/=!<>,%&~'"`;]/;

/**
 * The fixed literal every match of `source` starts with, as regex tokens (`EMP-\d{6}` → `E`,`M`,`P`,`-`), after
 * leading zero-width assertions; [] when there is none (or a top-level `|` makes it unsafe to tell).
 */
export function literalPrefix(source: string): string[] {
  if (hasTopLevelAlternation(source)) return [];
  let i = 0;
  for (;;) {
    if (source.charAt(i) === '^') i += 1;
    else if (source.startsWith('\\b', i) || source.startsWith('\\B', i)) i += 2;
    else if (/^\(\?<?[=!]/.test(source.slice(i, i + 4))) {
      const close = groupEnd(source, i);
      if (close < 0) return [];
      i = close + 1;
    } else break;
  }
  const tokens: string[] = [];
  while (i < source.length) {
    const c = source.charAt(i);
    let token: string;
    if (c === '\\') {
      const next = source.charAt(i + 1);
      if (next === '' || /[A-Za-z0-9]/.test(next)) break;
      token = c + next;
    } else if (LITERAL_CHAR.test(c)) token = c;
    else break;
    const after = source.charAt(i + token.length);
    if (after === '?' || after === '*' || after === '+' || after === '{') break;
    tokens.push(token);
    i += token.length;
  }
  return tokens;
}

function customDetector(rule: CustomPiiRuleOptions): Detector {
  const maxLength = rule.max_length;
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new Error(`custom PII rule "${rule.name}": max_length must be a positive integer`);
  }
  const flags = [...new Set(`${rule.flags ?? ''}g`.replace(/y/g, ''))].join('');
  let pattern: RegExp;
  try {
    pattern = new RegExp(rule.pattern, flags);
  } catch (error) {
    throw new Error(
      `custom PII rule "${rule.name}": ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  // Where in the last max_length characters a match can start: wherever the text agrees with its literal prefix.
  let probe: RegExp | null = null;
  const tokens = literalPrefix(rule.pattern);
  if (tokens.length > 0) {
    let inner = `${tokens[tokens.length - 1]}[\\s\\S]*`;
    for (let i = tokens.length - 2; i >= 0; i--) inner = `${tokens[i]}(?:${inner})?`;
    try {
      probe = new RegExp(`${inner}$`, `${flags.replace(/[gm]/g, '')}g`);
    } catch {
      probe = null;
    }
  }
  return {
    entity: rule.name,
    pattern,
    openStart(text, from) {
      const end = text.length;
      const lo = Math.max(from, end - maxLength);
      if (lo >= end || probe === null) return Math.min(lo, end);
      probe.lastIndex = lo;
      const m = probe.exec(text);
      return m === null ? end : m.index;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Masks.

/** A mask built while a long value streams past (suppression): only its length and hash are kept. */
export interface RunMask {
  update(text: string): void;
  finish(): string;
}

const PARTIAL_LAST_FOUR = new Set(['card', 'phone', 'iban', 'ssn']);

function keepLastFour(value: string): string {
  let kept = 0;
  let out = '';
  for (let i = value.length - 1; i >= 0; i--) {
    const c = value.charAt(i);
    if (/[A-Za-z0-9]/.test(c)) {
      out = (kept < 4 ? c : '*') + out;
      kept++;
    } else out = c + out;
  }
  return out;
}

export class Masker {
  private readonly labels = new Map<string, string>();

  constructor(
    private readonly style: MaskStyle,
    private readonly hashKey: string,
  ) {}

  mask(entity: string, value: string): string {
    switch (this.style) {
      case 'label':
        return this.label(entity);
      case 'asterisks':
        return '*'.repeat(Math.min(value.length, MAX_STARS));
      case 'partial':
        if (entity === 'email') return `****${value.slice(value.lastIndexOf('@'))}`;
        return PARTIAL_LAST_FOUR.has(entity) ? keepLastFour(value) : this.label(entity);
      case 'hash':
        return this.hashed(entity, createHmac('sha256', this.hashKey).update(value).digest('hex'));
    }
  }

  /** For a value too long to hold: fed piece by piece, masked at the end (partial: the label). */
  run(entity: string): RunMask {
    const hmac = this.style === 'hash' ? createHmac('sha256', this.hashKey) : null;
    let length = 0;
    return {
      update: (text) => {
        length += text.length;
        hmac?.update(text);
      },
      finish: () => {
        if (hmac !== null) return this.hashed(entity, hmac.digest('hex'));
        return this.style === 'asterisks' ? '*'.repeat(Math.min(length, MAX_STARS)) : this.label(entity);
      },
    };
  }

  private label(entity: string): string {
    let label = this.labels.get(entity);
    if (label === undefined) {
      label = `[${entity.toUpperCase()}]`;
      this.labels.set(entity, label);
    }
    return label;
  }

  private hashed(entity: string, hex: string): string {
    return `${this.label(entity).slice(0, -1)}:${hex.slice(0, 8)}]`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The rule set.

/** A secret-looking run that starts at `start` and reaches the end of the text (see PiiRuleSet.secretRun). */
export interface SecretRun {
  start: number;
  /** Where the run's characters begin (after the prefix: `ghp_`'s `_` is not a body character). */
  bodyStart: number;
  chars: CharSet;
  /** How many `.` the body may hold (a JWT: two). */
  dots: number;
}

interface SecretRunKind {
  prefix: RegExp;
  chars: CharSet;
  dots: number;
}

/** Whether text[from..] is all `chars` (and at most `dots` dots); returns the dots used, or -1. */
export function runToEnd(text: string, from: number, chars: CharSet, dots: number): number {
  let used = 0;
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inSet(chars, code)) continue;
    if (code === 46 && used < dots) {
      used++;
      continue;
    }
    return -1;
  }
  return used;
}

/** Characters that no built-in entity can do without; a text with none of them needs no built-in scan. */
const BUILT_IN_HINT = /[0-9@:]|sk-|AKIA|ASIA|eyJ|AIza|gh[pousr]_|github_pat_|xox[abpr]-|[Bb]earer/;

export class PiiRuleSet {
  readonly detectors: readonly Detector[];
  readonly enabled: boolean;
  readonly maxHoldback: number;
  readonly masker: Masker;
  private readonly hasCustom: boolean;
  private readonly secretRuns: readonly SecretRunKind[];

  constructor(options: SanitizerOptions) {
    const enabled = new Set(options.entities);
    const detectors: Detector[] = [];
    for (const name of BUILT_IN_ORDER) if (enabled.has(name)) detectors.push(...BUILT_INS[name]());
    for (const rule of options.customRules) detectors.push(customDetector(rule));
    this.detectors = detectors;
    this.hasCustom = options.customRules.length > 0;
    this.enabled = detectors.length > 0;
    if (this.enabled && options.maskStyle === 'hash' && !options.hashKey) {
      throw new Error('the hash mask style needs a hashKey');
    }
    this.masker = new Masker(options.maskStyle, options.hashKey ?? '');
    const holdback = Number.isFinite(options.maxHoldback)
      ? Math.floor(options.maxHoldback)
      : DEFAULT_MAX_HOLDBACK;
    this.maxHoldback = Math.min(MAX_HOLDBACK, Math.max(MIN_HOLDBACK, holdback));
    this.secretRuns = enabled.has('secret')
      ? [
          {
            prefix: new RegExp(`${BEARER_BEFORE}(?=[A-Za-z0-9._~+/-])`, 'g'),
            chars: charSet(BEARER_TOKEN),
            dots: 0,
          },
          ...SECRET_PREFIXES.map((p) => ({
            prefix: new RegExp(`(?<![A-Za-z0-9_-])${escapeRegExp(p.literal)}`, 'g'),
            chars: charSet(p.chars),
            dots: p.dots ?? 0,
          })),
        ]
      : [];
  }

  /** Candidates starting at or after `from` (text before `from` is only look-behind context). */
  candidates(text: string, from: number): Candidate[] {
    const out: Candidate[] = [];
    // The whole text, context included: a Bearer token's `Bearer` may sit before `from`.
    if (!this.hasCustom && !BUILT_IN_HINT.test(text)) return out;
    for (let rank = 0; rank < this.detectors.length; rank++) {
      const d = this.detectors[rank];
      if (d === undefined) continue;
      const re = d.pattern;
      re.lastIndex = from;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const start = m.index;
        const length = m[0].length === 0 ? 0 : d.accept ? d.accept(m[0]) : m[0].length;
        if (length > 0) {
          out.push({ entity: d.entity, start, end: start + length, rank });
          re.lastIndex = start + length;
        } else re.lastIndex = start + 1;
      }
    }
    return out;
  }

  /** Non-overlapping, by start: the earlier-starting candidate wins, then the longer, then the detector order. */
  select(candidates: readonly Candidate[]): Candidate[] {
    if (candidates.length < 2) return [...candidates];
    const sorted = [...candidates].sort((a, b) => a.start - b.start || b.end - a.end || a.rank - b.rank);
    const chosen: Candidate[] = [];
    let reached = 0;
    for (const c of sorted) {
      if (c.start >= reached) {
        chosen.push(c);
        reached = c.end;
      }
    }
    return chosen;
  }

  find(text: string): PiiMatch[] {
    if (!this.enabled) return [];
    return this.select(this.candidates(text, 0)).map(({ entity, start, end }) => ({ entity, start, end }));
  }

  mask(text: string): string {
    if (!this.enabled || text.length === 0) return text;
    const chosen = this.select(this.candidates(text, 0));
    return chosen.length === 0 ? text : this.render(text, 0, text.length, chosen);
  }

  /** text[from, to) with the chosen matches that start there masked (a match must not cross `to`). */
  render(text: string, from: number, to: number, chosen: readonly Candidate[]): string {
    let out = '';
    let pos = from;
    for (const m of chosen) {
      if (m.start >= to) break;
      if (m.start < pos) continue;
      out += text.slice(pos, m.start) + this.masker.mask(m.entity, text.slice(m.start, m.end));
      pos = m.end;
    }
    return pos >= to ? out : out + text.slice(pos, to);
  }

  /** The earliest index ≥ from where any detector's attempt could still read past the end of `text`. */
  openStart(text: string, from: number): number {
    let earliest = text.length;
    for (const d of this.detectors) {
      const start = d.openStart(text, from);
      if (start < earliest) {
        earliest = start;
        if (earliest <= from) return from;
      }
    }
    return earliest;
  }

  /** The earliest secret prefix in [from, limit] whose run of secret characters reaches the end of `text`. */
  secretRun(text: string, from: number, limit: number): SecretRun | null {
    let best: SecretRun | null = null;
    for (const kind of this.secretRuns) {
      const re = kind.prefix;
      re.lastIndex = from;
      for (let m = re.exec(text); m !== null && m.index <= limit; m = re.exec(text)) {
        if (best !== null && m.index >= best.start) break;
        const bodyStart = m.index + m[0].length;
        if (runToEnd(text, bodyStart, kind.chars, kind.dots) >= 0) {
          best = { start: m.index, bodyStart, chars: kind.chars, dots: kind.dots };
          break;
        }
        if (m[0].length === 0) re.lastIndex = m.index + 1;
      }
    }
    return best;
  }
}
