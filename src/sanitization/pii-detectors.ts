import type { PiiEntityName } from '../config/app-config';
import {
  acceptBearer,
  acceptCard,
  acceptIban,
  acceptIpv6,
  acceptPhone,
  acceptSecret,
} from './pii-validators';

/**
 * The built-in PII detectors (PiiRuleSet runs them).
 *
 * A detector is a global regular expression, an optional check of what it matched (Luhn, mod-97…), and a probe
 * that answers the question streaming needs: "from which index on could an attempt of this expression still read
 * past the end of this text?". Every expression here only consumes characters of a small set and looks at most
 * two characters ahead, so the probe is "the trailing run of that set, where it can start a match". Text before
 * the earliest such index can be masked and released: more input cannot change what is found there.
 */

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

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** `s(?:k(?:-[run]*)?)?`: any non-empty prefix of `literal`, or all of it and a run of `run` characters. */
function prefixOrRun(literal: string, run: string): string {
  let inner = `${escapeRegExp(literal.charAt(literal.length - 1))}[${run}]*`;
  for (let i = literal.length - 2; i >= 0; i--) inner = `${escapeRegExp(literal.charAt(i))}(?:${inner})?`;
  return inner;
}

/** Secret shapes by prefix: what may follow the prefix (as a regex class, and for stream suppression). */
export const SECRET_PREFIXES: readonly { literal: string; run: string; chars: string; dots?: number }[] = [
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
export const BEARER_TOKEN = ALNUM + '._~+/=-';
export const BEARER_BEFORE = '(?<=(?<![A-Za-z0-9_-])[Bb]earer[ \\t]{1,8})';

export const BUILT_INS: Record<PiiEntityName, () => Detector[]> = {
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
export const BUILT_IN_ORDER: readonly PiiEntityName[] = [
  'secret',
  'email',
  'iban',
  'card',
  'ssn',
  'phone',
  'ipv6',
  'ipv4',
];

/** Characters that no built-in entity can do without; a text with none of them needs no built-in scan. */
export const BUILT_IN_HINT = /[0-9@:]|sk-|AKIA|ASIA|eyJ|AIza|gh[pousr]_|github_pat_|xox[abpr]-|[Bb]earer/;
