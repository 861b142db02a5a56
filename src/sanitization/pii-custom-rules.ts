import type { Detector } from './pii-detectors';

// Custom rules: a configured pattern becomes a detector, with a probe from the literal its matches start with.

export interface CustomPiiRuleOptions {
  name: string;
  pattern: string;
  flags?: string;
  max_length: number;
}

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

export function customDetector(rule: CustomPiiRuleOptions): Detector {
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
