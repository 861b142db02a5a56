import { MAX_MATCH_INPUT, MAX_REGEX_PROGRAM, patternMatches, patternProblem } from './guard-pattern';

/**
 * Patterns that take exponential (or high-polynomial) time on a backtracking engine, each with an attack
 * input of the full input cap and what a correct engine answers on it. On V8's RegExp each of these runs
 * for hours (or far longer); a test here that took that long would fail on jest's timeout.
 */
const EVIL: Array<[pattern: string, input: string, expected: boolean]> = [
  ['(a+)+$', `${'a'.repeat(MAX_MATCH_INPUT - 1)}!`, false],
  ['^(a+)+$', `${'a'.repeat(MAX_MATCH_INPUT - 1)}!`, false],
  ['(a|a)*$', `${'a'.repeat(MAX_MATCH_INPUT - 1)}!`, true], // the empty match at the end
  ['^(a|a)*$', `${'a'.repeat(MAX_MATCH_INPUT - 1)}!`, false],
  ['(a|aa)+$', `${'a'.repeat(MAX_MATCH_INPUT - 1)}!`, false],
  ['a*a*a*a*a*b', 'a'.repeat(MAX_MATCH_INPUT), false],
  ['a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(MAX_MATCH_INPUT), false],
  ['(.*a){20}', 'a'.repeat(MAX_MATCH_INPUT), true],
  ['^(.*a){20}$', `${'a'.repeat(MAX_MATCH_INPUT - 1)}!`, false],
  ['(\\w+\\s?)*$', `${'word '.repeat(MAX_MATCH_INPUT / 5 - 1)}word!`, true], // the empty match at the end
  ['^(\\w+\\s?)*$', `${'word '.repeat(MAX_MATCH_INPUT / 5 - 1)}word!`, false],
  ['((a*)*)*b', 'a'.repeat(MAX_MATCH_INPUT), false],
  ['((((((((a*)*)*)*)*)*)*)*)*b', 'a'.repeat(MAX_MATCH_INPUT), false],
  ['(x+x+)+y', 'x'.repeat(MAX_MATCH_INPUT), false],
  ['^(([a-z])+.)+[A-Z]([a-z])+$', 'a'.repeat(MAX_MATCH_INPUT), false],
  ['^(\\d+)*[a-z]$', `${'1'.repeat(MAX_MATCH_INPUT - 1)}!`, false],
  ['^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@)', `${'a'.repeat(MAX_MATCH_INPUT - 1)}!`, false],
  ['(a|b|ab)*c', 'ab'.repeat(MAX_MATCH_INPUT / 2), false],
  ['^(a?){25}a{25}$', 'a'.repeat(25), true],
];

describe('guard patterns (RE2)', () => {
  it.each(EVIL)(
    'accepts %s and answers on its attack input (%#) in linear time',
    (pattern, input, expected) => {
      expect(patternProblem(pattern)).toBeUndefined();
      expect(patternMatches(pattern, input)).toBe(expected);
    },
  );

  it.each([
    ['^Hello\\s', 'Hello world', true, true],
    ['^world', 'Hello world', false, true],
    ['(?i)^hello', 'HELLO', true, false],
    ['\\bAPPROVED\\b', 'status: APPROVED.', true, true],
    ['\\bAPPROVED\\b', 'UNAPPROVED', false, true],
    ['^\\d{3}-\\d{4}$', '555-1234', true, true],
    ['^(?:yes|no)$', 'maybe', false, true],
    ['(?P<n>a)b', 'xab', true, false],
    ['(?<n>a)b', 'xab', true, true],
    ['\\x{41}', 'A', true, false],
    ['[]a]', ']', true, false],
    ['\\Q(?=a)\\E', 'x(?=a)', true, false],
    ['a.c', 'a\nc', false, true],
    ['(?s)a.c', 'a\nc', true, false],
    ['^b', 'a\nb', false, true],
    ['(?m)^b', 'a\nb', true, false],
  ] as const)('%s on %p → %p (as JavaScript answers: %p)', (pattern, input, expected, sameInJs) => {
    expect(patternProblem(pattern)).toBeUndefined();
    expect(patternMatches(pattern, input)).toBe(expected);
    // Where JavaScript has the syntax, it answers the same; RE2-only syntax and `[]a]` (a class holding `]`
    // in RE2, an empty class in JavaScript) are documented differences.
    if (sameInJs) expect(new RegExp(pattern).test(input)).toBe(expected);
  });

  it.each([
    ['(a)\\1', /^backreferences/],
    ['(\\w+)\\s\\1', /^backreferences/],
    ['(?<w>a)\\k<w>', /^backreferences/],
    ['a(?=b)', /^lookahead and lookbehind/],
    ['a(?!b)', /^lookahead and lookbehind/],
    ['(?<=a)b', /^lookahead and lookbehind/],
    ['(?<!a)b', /^lookahead and lookbehind/],
    ['(unclosed', /^invalid regular expression: .*missing closing \)/],
    ['a{1001}', /^invalid regular expression: .*invalid repeat count/],
    ['(.{1,1000}){1,1000}', /^invalid regular expression: .*too large/],
    ['a**', /^invalid regular expression: .*invalid nested repetition/],
    ['\\u0041', /^invalid regular expression: .*invalid escape/],
    ['.{0,1000}', /^the regular expression is too complex: it compiles to \d+ instructions, at most 250/],
    ['(?:[ab].{0,40}){5}c$', /^the regular expression is too complex/],
    ['a'.repeat(201), /^the regular expression is longer than 200 characters$/],
  ])('refuses %s', (pattern, message) => {
    expect(patternProblem(pattern)).toMatch(message);
    // Never matches, even if it reached evaluation (a definition stored before a rule changed).
    expect(patternMatches(pattern, 'aaaa')).toBe(false);
  });

  it('accepts patterns up to the program cap', () => {
    expect(MAX_REGEX_PROGRAM).toBe(250);
    expect(patternProblem('[ab].{0,100}c$')).toBeUndefined();
    expect(patternProblem('\\\\1')).toBeUndefined(); // an escaped backslash, then 1: no backreference
  });

  it(`tests only the first ${MAX_MATCH_INPUT} characters`, () => {
    const long = `${'a'.repeat(MAX_MATCH_INPUT)}END`;
    expect(patternMatches('END', long)).toBe(false);
    expect(patternMatches('a$', long)).toBe(true);
    expect(patternMatches('END', long.slice(1))).toBe(false);
    expect(patternMatches('E', `${'a'.repeat(MAX_MATCH_INPUT - 1)}E`)).toBe(true);
  });

  it('stays correct past the compiled-pattern cache', () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 100; i++) {
        expect(patternMatches(`^x${i}$`, `x${i}`)).toBe(true);
        expect(patternMatches(`^x${i}$`, `x${i + 1}`)).toBe(false);
      }
    }
  });
});
