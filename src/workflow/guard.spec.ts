import { evaluateGuard, guardProblems, jsonEqual, readPath } from './guard';
import type { Guard, GuardOp } from './workflow-definition';

describe('readPath', () => {
  const data = { a: { b: { c: 3 } }, items: [{ name: 'x' }, { name: 'y' }], zero: 0, nil: null };

  it.each([
    ['a.b.c', 3],
    ['a.b', { c: 3 }],
    ['items.1.name', 'y'],
    ['items.0', { name: 'x' }],
    ['zero', 0],
    ['nil', null],
  ])('reads %p', (path, expected) => {
    expect(readPath(data, path)).toEqual(expected);
  });

  it.each(['missing', 'a.x.c', 'items.5.name', 'items.name', 'items.length', 'zero.x', 'nil.x', 'a.b.c.d'])(
    'gives undefined for %p',
    (path) => {
      expect(readPath(data, path)).toBeUndefined();
    },
  );

  it('never walks into prototypes', () => {
    expect(readPath({}, 'constructor')).toBeUndefined();
    expect(readPath({}, 'constructor.prototype')).toBeUndefined();
    expect(readPath({}, '__proto__')).toBeUndefined();
    expect(readPath({}, 'toString')).toBeUndefined();
    expect(readPath({}, 'hasOwnProperty')).toBeUndefined();
    expect(readPath(JSON.parse('{"__proto__": {"x": 1}}'), '__proto__.x')).toBeUndefined();
    expect(readPath({ constructor: 'own' }, 'constructor')).toBeUndefined();
    expect(readPath({ a: { prototype: 1 } }, 'a.prototype')).toBeUndefined();
  });

  it('does not index into strings', () => {
    expect(readPath({ s: 'abc' }, 's.0')).toBeUndefined();
    expect(readPath({ s: 'abc' }, 's.length')).toBeUndefined();
  });
});

describe('jsonEqual', () => {
  it.each([
    [1, 1, true],
    ['a', 'a', true],
    [null, null, true],
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }, true],
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [[1, 2], [1, 2], true],
    [1, '1', false],
    [null, undefined, false],
    [[1, 2], [2, 1], false],
    [[1], { 0: 1 }, false],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [{ a: { b: 1 } }, { a: { b: 2 } }, false],
  ])('%p vs %p → %p', (a, b, expected) => {
    expect(jsonEqual(a, b)).toBe(expected);
  });
});

describe('evaluateGuard', () => {
  const data = {
    score: 7,
    title: 'Hello world',
    tags: ['ai', { k: 1 }],
    review: { verdict: 'approve', notes: '' },
    empty: [],
    zero: 0,
    nil: null,
    flag: true,
  };
  const check = (field: string, op: GuardOp, value?: unknown) =>
    evaluateGuard(value === undefined ? { field, op } : { field, op, value }, data);

  it.each([
    ['score', 'eq', 7, true],
    ['score', 'eq', '7', false],
    ['review', 'eq', { notes: '', verdict: 'approve' }, true],
    ['review', 'eq', { verdict: 'approve' }, false],
    ['missing', 'eq', null, false],
    ['nil', 'eq', null, true],
    ['score', 'ne', 8, true],
    ['score', 'ne', 7, false],
    ['missing', 'ne', 1, true],
  ] as const)('%s %s %p → %p', (field, op, value, expected) => {
    expect(check(field, op, value)).toBe(expected);
  });

  it.each([
    ['score', 'gt', 6, true],
    ['score', 'gt', 7, false],
    ['score', 'gte', 7, true],
    ['score', 'gte', 8, false],
    ['score', 'lt', 8, true],
    ['score', 'lt', 7, false],
    ['score', 'lte', 7, true],
    ['score', 'lte', 6, false],
    ['title', 'gt', 'Apple', true],
    ['title', 'lt', 'Apple', false],
    ['score', 'gt', '6', false],
    ['score', 'lt', '8', false],
    ['title', 'gte', 1, false],
    ['missing', 'lt', 1, false],
    ['nil', 'lte', 1, false],
    ['tags', 'gt', 0, false],
  ] as const)('%s %s %p → %p (ordering and type mismatches)', (field, op, value, expected) => {
    expect(check(field, op, value)).toBe(expected);
  });

  it.each([
    ['score', 'exists', true],
    ['zero', 'exists', true],
    ['nil', 'exists', false],
    ['missing', 'exists', false],
    ['nil', 'missing', true],
    ['missing', 'missing', true],
    ['score', 'missing', false],
    ['flag', 'truthy', true],
    ['score', 'truthy', true],
    ['tags', 'truthy', true],
    ['review', 'truthy', true],
    ['zero', 'truthy', false],
    ['empty', 'truthy', false],
    ['review.notes', 'truthy', false],
    ['nil', 'truthy', false],
    ['missing', 'truthy', false],
    ['empty', 'falsy', true],
    ['review.notes', 'falsy', true],
    ['zero', 'falsy', true],
    ['missing', 'falsy', true],
    ['title', 'falsy', false],
  ] as const)('%s %s → %p', (field, op, expected) => {
    expect(check(field, op)).toBe(expected);
  });

  it.each([
    ['title', 'contains', 'world', true],
    ['title', 'contains', 'World', false],
    ['title', 'contains', 1, false],
    ['tags', 'contains', 'ai', true],
    ['tags', 'contains', { k: 1 }, true],
    ['tags', 'contains', { k: 2 }, false],
    ['tags', 'contains', 'a', false],
    ['score', 'contains', 7, false],
    ['missing', 'contains', 'x', false],
    ['title', 'matches', '^Hello\\s', true],
    ['title', 'matches', '^world', false],
    ['score', 'matches', '7', false],
    ['missing', 'matches', '.*', false],
    ['review.verdict', 'in', ['approve', 'accept'], true],
    ['review.verdict', 'in', ['reject'], false],
    ['score', 'in', ['7'], false],
    ['review', 'in', [{ verdict: 'approve', notes: '' }], true],
    ['missing', 'in', [null], false],
  ] as const)('%s %s %p → %p', (field, op, value, expected) => {
    expect(check(field, op, value)).toBe(expected);
  });

  it('tests only the first 20 000 characters with matches', () => {
    const long = { text: `${'a'.repeat(20_000)}END` };
    expect(evaluateGuard({ field: 'text', op: 'matches', value: 'END' }, long)).toBe(false);
    expect(evaluateGuard({ field: 'text', op: 'matches', value: 'a$' }, long)).toBe(true);
  });

  it('treats an uncompilable pattern as no match', () => {
    expect(evaluateGuard({ field: 'title', op: 'matches', value: '(' }, data)).toBe(false);
  });

  it('does not read prototype properties', () => {
    expect(evaluateGuard({ field: 'constructor', op: 'exists' }, data)).toBe(false);
    expect(evaluateGuard({ field: 'title.length', op: 'exists' }, data)).toBe(false);
    expect(evaluateGuard({ field: '__proto__', op: 'truthy' }, data)).toBe(false);
  });

  it('combines with all, any and not', () => {
    const high: Guard = { field: 'score', op: 'gte', value: 5 };
    const approved: Guard = { field: 'review.verdict', op: 'eq', value: 'approve' };
    const no: Guard = { field: 'flag', op: 'falsy' };
    expect(evaluateGuard({ all: [high, approved] }, data)).toBe(true);
    expect(evaluateGuard({ all: [high, no] }, data)).toBe(false);
    expect(evaluateGuard({ any: [no, approved] }, data)).toBe(true);
    expect(evaluateGuard({ any: [no, { not: high }] }, data)).toBe(false);
    expect(evaluateGuard({ not: no }, data)).toBe(true);
    expect(evaluateGuard({ not: { all: [high, approved] } }, data)).toBe(false);
  });
});

describe('guardProblems', () => {
  it('accepts every valid form', () => {
    const guard = {
      all: [
        { field: 'a.b', op: 'eq', value: { x: [1] } },
        { any: [{ field: 'c', op: 'exists' }, { not: { field: 'd-e_f.0', op: 'in', value: [1, 2] } }] },
        { field: 'g', op: 'matches', value: '^a+$' },
        { field: 'h', op: 'lt', value: 'm' },
        { field: 'i', op: 'eq', value: null },
      ],
    };
    expect(guardProblems(guard, 'g')).toEqual([]);
  });

  it.each([
    ['a string', 'score > 5', [{ path: 'g', message: 'a guard must be an object' }]],
    ['null', null, [{ path: 'g', message: 'a guard must be an object' }]],
    [
      'no form',
      { op: 'eq' },
      [{ path: 'g', message: "a guard needs exactly one of 'all', 'any', 'not' or 'field'" }],
    ],
    [
      'two forms',
      { all: [], field: 'x', op: 'exists' },
      [
        {
          path: 'g',
          message: "a guard needs exactly one of 'all', 'any', 'not' or 'field' (found 'all', 'field')",
        },
      ],
    ],
    ['empty all', { all: [] }, [{ path: 'g.all', message: 'must be a non-empty array of guards' }]],
    [
      'any not an array',
      { any: { field: 'x' } },
      [{ path: 'g.any', message: 'must be a non-empty array of guards' }],
    ],
    [
      'a bad member',
      { any: [{ field: 'x', op: 'exists' }, 3] },
      [{ path: 'g.any[1]', message: 'a guard must be an object' }],
    ],
    [
      'a bad not',
      { not: { field: 'x', op: 'nope' } },
      [{ path: 'g.not.op', message: expect.stringMatching(/^must be one of eq, ne, /) }],
    ],
    [
      'an unknown key',
      { field: 'x', op: 'exists', vale: 1 },
      [{ path: 'g.vale', message: "unknown field 'vale'" }],
    ],
    [
      'op beside all',
      { all: [{ field: 'x', op: 'exists' }], op: 'eq' },
      [{ path: 'g.op', message: "unknown field 'op'" }],
    ],
    [
      'a bad field path',
      { field: 'a..b', op: 'exists' },
      [{ path: 'g.field', message: "must be a dotted path such as 'review.score'" }],
    ],
    [
      'a non-string field',
      { field: 1, op: 'exists' },
      [{ path: 'g.field', message: "must be a dotted path such as 'review.score'" }],
    ],
    ['a missing op', { field: 'x' }, [{ path: 'g.op', message: expect.stringContaining('must be one of') }]],
    ['a missing value', { field: 'x', op: 'eq' }, [{ path: 'g.value', message: "'eq' needs a value" }]],
    [
      'a value for exists',
      { field: 'x', op: 'exists', value: true },
      [{ path: 'g.value', message: "'exists' takes no value" }],
    ],
    [
      'a null value for falsy',
      { field: 'x', op: 'falsy', value: null },
      [{ path: 'g.value', message: "'falsy' takes no value" }],
    ],
    [
      'an object for gt',
      { field: 'x', op: 'gt', value: {} },
      [{ path: 'g.value', message: "'gt' needs a number or a string" }],
    ],
    [
      'a non-array for in',
      { field: 'x', op: 'in', value: 'abc' },
      [{ path: 'g.value', message: "'in' needs an array" }],
    ],
    [
      'a non-string regex',
      { field: 'x', op: 'matches', value: 1 },
      [{ path: 'g.value', message: "'matches' needs a regular expression string" }],
    ],
    [
      'a long regex',
      { field: 'x', op: 'matches', value: 'a'.repeat(201) },
      [{ path: 'g.value', message: 'the regular expression is longer than 200 characters' }],
    ],
    [
      'a bad regex',
      { field: 'x', op: 'matches', value: '(unclosed' },
      [{ path: 'g.value', message: expect.stringMatching(/^invalid regular expression: /) }],
    ],
  ])('reports %s', (_name, raw, expected) => {
    expect(guardProblems(raw, 'g')).toEqual(expected);
  });

  it('reports several problems together', () => {
    const raw = { all: [{ field: '', op: 'eq' }, { not: 'x' }] };
    expect(guardProblems(raw, 'g')).toEqual([
      { path: 'g.all[0].field', message: "must be a dotted path such as 'review.score'" },
      { path: 'g.all[0].value', message: "'eq' needs a value" },
      { path: 'g.all[1].not', message: 'a guard must be an object' },
    ]);
  });

  it('limits nesting to 8 levels', () => {
    const nest = (levels: number): unknown =>
      levels === 1 ? { field: 'x', op: 'exists' } : { not: nest(levels - 1) };
    expect(guardProblems(nest(8), 'g')).toEqual([]);
    expect(guardProblems(nest(9), 'g')).toEqual([
      { path: `g${'.not'.repeat(8)}`, message: 'guards may nest at most 8 levels deep' },
    ]);
    expect(guardProblems({ all: [{ any: [nest(7)] }] }, 'g')).toEqual([
      { path: `g.all[0].any[0]${'.not'.repeat(6)}`, message: 'guards may nest at most 8 levels deep' },
    ]);
  });
});

describe('matches patterns in definitions', () => {
  it.each(['(a+)+$', '(a|aa)*$', 'a*a*a*a*a*b', '(.*a){20}', '(\\w+\\s?)*$', '(a|b){2,}', '^(foo|bar)$'])(
    'accepts %s (RE2 matches it in linear time)',
    (pattern) => expect(guardProblems({ field: 'x', op: 'matches', value: pattern }, 'guard')).toEqual([]),
  );

  it.each(['(\\w)\\1', '(?<w>a)\\k<w>', 'a(?=b)', '(?<!a)b', '.{0,1000}'])(
    'refuses %s naming the guard value',
    (pattern) => {
      expect(
        guardProblems({ all: [{ field: 'x', op: 'matches', value: pattern }] }, 'transitions[0].guard'),
      ).toEqual([{ path: 'transitions[0].guard.all[0].value', message: expect.any(String) as string }]);
    },
  );

  it('evaluates an evil pattern on a long field without backtracking', () => {
    const data = { text: 'a'.repeat(50_000) };
    expect(evaluateGuard({ field: 'text', op: 'matches', value: 'a*a*a*a*a*b' }, data)).toBe(false);
    expect(evaluateGuard({ field: 'text', op: 'matches', value: '^(a+)+$' }, data)).toBe(true);
  });
});
