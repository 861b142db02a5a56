import type { MaskStyle, PiiEntityName } from '../config/app-config';
import { type CustomPiiRuleOptions, customDetector } from './pii-custom-rules';
import {
  BEARER_BEFORE,
  BEARER_TOKEN,
  BUILT_IN_HINT,
  BUILT_IN_ORDER,
  BUILT_INS,
  type CharSet,
  charSet,
  type Detector,
  escapeRegExp,
  inSet,
  SECRET_PREFIXES,
} from './pii-detectors';
import { PiiMasker } from './pii-masker';

// The rule set: runs the enabled detectors (built-in, then custom), resolves overlaps, masks what it chose, and
// tells a stream where it must hold text back.

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

export class PiiRuleSet {
  readonly detectors: readonly Detector[];
  readonly enabled: boolean;
  readonly maxHoldback: number;
  readonly masker: PiiMasker;
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
    this.masker = new PiiMasker(options.maskStyle, options.hashKey ?? '');
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
