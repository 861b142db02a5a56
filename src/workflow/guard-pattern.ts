import { RE2JS } from 're2js';

/**
 * The `matches` guard's regular expressions, on RE2 (re2js, a pure-JS port): matching takes time linear in the
 * input whatever the pattern, so no pattern can freeze the event loop the way `(a+)+$` or `a*a*a*a*a*b` do on
 * a backtracking engine. The cost of one test is bounded by the input cap times the pattern's program size,
 * and both are capped here. Syntax is RE2's (https://github.com/google/re2/wiki/Syntax): no backreferences,
 * no lookahead or lookbehind; inline flags such as `(?i)` work.
 */

/** The longest regex source `matches` accepts. */
export const MAX_REGEX_LENGTH = 200;

/** How much of a string field `matches` tests (with the program cap, bounds the cost of one test). */
export const MAX_MATCH_INPUT = 20_000;

/**
 * The largest compiled program (RE2 instructions) a pattern may have. Counted repeats inflate it
 * (`.{0,100}` is ~200 instructions); matching costs at most the input times this.
 */
export const MAX_REGEX_PROGRAM = 250;

/**
 * Compiled patterns kept (least recently used dropped first). Each keeps its lazily built DFA, which RE2 caps
 * at 8 MiB, reached only by patterns built to exhaust it; so this bounds that memory too.
 */
const CACHE_LIMIT = 32;
const cache = new Map<string, RE2JS | null>();

/** Why a source cannot be a guard pattern (a message for the definition's author), or undefined. */
export function patternProblem(source: string): string | undefined {
  if (source.length > MAX_REGEX_LENGTH) {
    return `the regular expression is longer than ${MAX_REGEX_LENGTH} characters`;
  }
  const unsupported = unsupportedSyntax(source);
  if (unsupported) return unsupported;
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `invalid regular expression: ${reason} (guard patterns use RE2 syntax)`;
  }
  const size = compiled.programSize();
  if (size > MAX_REGEX_PROGRAM) {
    return `the regular expression is too complex: it compiles to ${size} instructions, at most ${MAX_REGEX_PROGRAM} (use smaller counted repeats such as {0,50})`;
  }
  return undefined;
}

/**
 * Whether the pattern finds a match in the first MAX_MATCH_INPUT characters of the input. A pattern that
 * does not pass patternProblem (a definition stored before a rule changed) never matches.
 */
export function patternMatches(source: string, input: string): boolean {
  const compiled = compiledPattern(source);
  return (
    compiled !== null &&
    compiled.test(input.length > MAX_MATCH_INPUT ? input.slice(0, MAX_MATCH_INPUT) : input)
  );
}

function compiledPattern(source: string): RE2JS | null {
  const known = cache.get(source);
  if (known !== undefined) {
    // Most recently used last.
    cache.delete(source);
    cache.set(source, known);
    return known;
  }
  const compiled = patternProblem(source) === undefined ? RE2JS.compile(source) : null;
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(source, compiled);
  return compiled;
}

/**
 * Backreferences and lookarounds, named for what they are (RE2 alone would call `\1` an "invalid escape
 * sequence"): they are what needs a backtracking engine, so RE2 has none.
 */
function unsupportedSyntax(source: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (next === 'Q') {
        // \Q...\E quotes literally.
        const end = source.indexOf('\\E', i + 2);
        i = end < 0 ? source.length : end + 1;
        continue;
      }
      if (/[1-9]/.test(next) || (next === 'k' && source[i + 2] === '<')) {
        return 'backreferences (\\1, \\k<name>) are not supported in guard patterns';
      }
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
      // A `]` first in a class (after an optional `^`) is a literal.
      if (source[i + 1] === '^') i++;
      if (source[i + 1] === ']') i++;
    } else if (c === '(' && /^\(\?(=|!|<=|<!)/.test(source.slice(i, i + 4))) {
      return 'lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported in guard patterns';
    }
  }
  return undefined;
}
