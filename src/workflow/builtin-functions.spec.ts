import { builtinArgsProblems, FunctionError, outputKeyProblems, runBuiltin } from './builtin-functions';
import type { BuiltinFunctionName, FunctionAction } from './workflow-definition';

const fn = (name: BuiltinFunctionName, args: Record<string, unknown>): FunctionAction => ({
  type: 'function',
  function: name,
  args,
});

/** Runs the function on a deep-frozen copy of the data, so any mutation throws. */
function run(name: BuiltinFunctionName, args: Record<string, unknown>, data: Record<string, unknown>) {
  return runBuiltin(fn(name, args), deepFreeze(structuredClone(data)));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

describe('runBuiltin', () => {
  const data = { topic: 'nets', draft: 'one two  three', n: 2, meta: { lang: 'en' } };

  it('set merges values over the data', () => {
    expect(run('set', { values: { n: 3, status: 'new' } }, data)).toEqual({ ...data, n: 3, status: 'new' });
  });

  it('template renders into output', () => {
    expect(run('template', { output: 'title', template: '{{topic}} ({{meta.lang}})' }, data)).toEqual({
      ...data,
      title: 'nets (en)',
    });
  });

  it('pick keeps only the listed top-level keys (missing ones ignored)', () => {
    expect(run('pick', { keys: ['topic', 'meta', 'nope'] }, data)).toEqual({
      topic: 'nets',
      meta: { lang: 'en' },
    });
  });

  it('omit drops the listed keys', () => {
    expect(run('omit', { keys: ['draft', 'meta', 'nope'] }, data)).toEqual({ topic: 'nets', n: 2 });
  });

  it('rename moves keys, skipping missing sources and allowing swaps', () => {
    expect(run('rename', { map: { draft: 'text', nope: 'x' } }, data)).toEqual({
      topic: 'nets',
      n: 2,
      meta: { lang: 'en' },
      text: 'one two  three',
    });
    expect(run('rename', { map: { a: 'b', b: 'a' } }, { a: 1, b: 2 })).toEqual({ a: 2, b: 1 });
  });

  it('join joins field values, skipping missing and null, rendering non-strings', () => {
    const input = { a: 'A', b: null, c: 3, d: { x: 1 } };
    expect(run('join', { fields: ['a', 'b', 'missing', 'c', 'd'], output: 'all' }, input)).toEqual({
      ...input,
      all: 'A\n\n3\n\n{"x":1}',
    });
    expect(run('join', { fields: ['a', 'c', 'd.x'], output: 'all', separator: ', ' }, input)).toEqual({
      ...input,
      all: 'A, 3, 1',
    });
    expect(run('join', { fields: ['missing'], output: 'all' }, input)).toEqual({ ...input, all: '' });
  });

  it('word_count counts whitespace-separated words', () => {
    expect(run('word_count', { field: 'draft', output: 'words' }, data)).toEqual({ ...data, words: 3 });
    expect(run('word_count', { field: 'text', output: 'words' }, { text: '  \n one\ttwo\n' })).toEqual({
      text: '  \n one\ttwo\n',
      words: 2,
    });
    expect(run('word_count', { field: 'text', output: 'words' }, { text: '   ' })).toEqual({
      text: '   ',
      words: 0,
    });
    expect(run('word_count', { field: 'missing', output: 'words' }, data)).toEqual({ ...data, words: 0 });
  });

  it('word_count refuses a non-string', () => {
    expect(() => run('word_count', { field: 'n', output: 'words' }, data)).toThrow(
      new FunctionError("word_count: field 'n' is not a string"),
    );
  });

  it.each([
    ['{"a": [1, 2]}', { a: [1, 2] }],
    ['```json\n{"a": 1}\n```', { a: 1 }],
    ['  ```JSON\n[1]\n```  ', [1]],
    ['```\n"text"\n```', 'text'],
    ['```{"a":1}```', { a: 1 }],
    ['42', 42],
  ])('parse_json parses %p', (text, expected) => {
    expect(run('parse_json', { field: 'reply', output: 'parsed' }, { reply: text })).toEqual({
      reply: text,
      parsed: expected,
    });
  });

  it('parse_json writes to the top-level key of the field by default', () => {
    expect(run('parse_json', { field: 'reply' }, { reply: '{"ok":true}' })).toEqual({ reply: { ok: true } });
    expect(run('parse_json', { field: 'agent.answer' }, { agent: { answer: '[1]' } })).toEqual({
      agent: [1],
    });
  });

  it.each([['{not json'], ['```json\n{\n```'], [''], [3], [null]])('parse_json refuses %p', (value) => {
    const call = () => run('parse_json', { field: 'reply' }, { reply: value });
    expect(call).toThrow(FunctionError);
    expect(call).toThrow("parse_json: field 'reply' is not valid JSON");
  });

  it('parse_json refuses a missing field', () => {
    expect(() => run('parse_json', { field: 'a.b' }, {})).toThrow(
      "parse_json: field 'a.b' is not valid JSON",
    );
  });

  it('returns new objects and leaves the input untouched', () => {
    const input = { a: 1, nested: { b: 2 } };
    const out = runBuiltin(fn('set', { values: { c: 3 } }), input);
    expect(out).not.toBe(input);
    expect(input).toEqual({ a: 1, nested: { b: 2 } });
  });

  it('writes reserved-looking keys as own properties, never to the prototype', () => {
    const out = runBuiltin(fn('parse_json', { field: 'x', output: '__proto__' }), { x: '{"polluted":true}' });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('fails cleanly on args it was not validated with', () => {
    expect(() => runBuiltin(fn('template', { output: 1, template: 'x' }), {})).toThrow(
      new FunctionError("argument 'output' must be a string"),
    );
    expect(() => runBuiltin(fn('pick', { keys: 'a' }), {})).toThrow(
      "argument 'keys' must be an array of strings",
    );
    expect(() => runBuiltin(fn('set', {}), {})).toThrow("argument 'values' must be an object");
  });

  it('FunctionError is an Error with its name', () => {
    const error = new FunctionError('boom');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('FunctionError');
    expect(error.message).toBe('boom');
  });
});

describe('outputKeyProblems', () => {
  it.each(['a', '_x', 'A-b_9', 'x'.repeat(64)])('accepts %p', (key) => {
    expect(outputKeyProblems(key, 'k')).toEqual([]);
  });

  it.each(['', '9a', 'a.b', 'a b', 'x'.repeat(65), 3])('rejects %p', (key) => {
    expect(outputKeyProblems(key, 'k')).toEqual([
      { path: 'k', message: 'must be a data key matching ^[A-Za-z_][A-Za-z0-9_-]{0,63}$' },
    ]);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('rejects reserved %p', (key) => {
    expect(outputKeyProblems(key, 'k')).toEqual([{ path: 'k', message: `'${key}' is a reserved name` }]);
  });
});

describe('builtinArgsProblems', () => {
  it.each<[BuiltinFunctionName, Record<string, unknown>]>([
    ['set', { values: { a: 1, b: { c: [2] } } }],
    ['set', { values: {} }],
    ['template', { output: 'title', template: 'About {{topic}}' }],
    ['pick', { keys: ['a', 'b'] }],
    ['omit', { keys: ['a'] }],
    ['rename', { map: { a: 'b', c: 'd' } }],
    ['join', { fields: ['a', 'b.c'], output: 'all' }],
    ['join', { fields: ['a'], output: 'all', separator: '' }],
    ['word_count', { field: 'draft', output: 'words' }],
    ['parse_json', { field: 'reply' }],
    ['parse_json', { field: 'agent.reply', output: 'parsed' }],
  ])('accepts %s %p', (name, args) => {
    expect(builtinArgsProblems(name, args, 'a')).toEqual([]);
  });

  it.each<[BuiltinFunctionName, unknown, Array<{ path: string; message: string }>]>([
    ['set', [], [{ path: 'a', message: 'must be an object' }]],
    ['set', {}, [{ path: 'a.values', message: "'set' needs 'values'" }]],
    ['set', { values: 3 }, [{ path: 'a.values', message: 'must be an object' }]],
    [
      'set',
      { values: { 'bad key': 1 } },
      [{ path: 'a.values.bad key', message: 'must be a data key matching ^[A-Za-z_][A-Za-z0-9_-]{0,63}$' }],
    ],
    ['set', { values: {}, extra: 1 }, [{ path: 'a.extra', message: "unknown field 'extra'" }]],
    ['template', { output: 'x' }, [{ path: 'a.template', message: "'template' needs 'template'" }]],
    [
      'template',
      { output: 'x', template: 'Hi {{ }}' },
      [{ path: 'a.template', message: 'empty placeholder at offset 3' }],
    ],
    [
      'template',
      { output: 'x', template: 'a'.repeat(32 * 1024 + 1) },
      [{ path: 'a.template', message: 'must be at most 32 KiB' }],
    ],
    ['pick', { keys: [] }, [{ path: 'a.keys', message: 'must be a non-empty array of keys' }]],
    ['omit', { keys: ['a', ''] }, [{ path: 'a.keys[1]', message: 'must be a key' }]],
    ['rename', { map: {} }, [{ path: 'a.map', message: 'must be a non-empty object of {from: to}' }]],
    [
      'rename',
      { map: { a: 'x', b: 'x', c: 'no good' } },
      [
        { path: 'a.map.b', message: "duplicate target 'x'" },
        { path: 'a.map.c', message: 'must be a data key matching ^[A-Za-z_][A-Za-z0-9_-]{0,63}$' },
      ],
    ],
    [
      'join',
      { fields: ['ok', 'a..b'], output: 'o', separator: 1 },
      [
        { path: 'a.fields[1]', message: "must be a dotted path such as 'review.score'" },
        { path: 'a.separator', message: 'must be a string' },
      ],
    ],
    [
      'join',
      { fields: [], output: 'o' },
      [{ path: 'a.fields', message: 'must be a non-empty array of dotted paths' }],
    ],
    ['word_count', { field: 'x' }, [{ path: 'a.output', message: "'word_count' needs 'output'" }]],
    [
      'parse_json',
      { field: '0.reply' },
      [{ path: 'a.output', message: "the default output '0' is not a valid data key; set 'output'" }],
    ],
    [
      'parse_json',
      { field: 'x', output: 'constructor' },
      [{ path: 'a.output', message: "'constructor' is a reserved name" }],
    ],
  ])('reports %s %p', (name, args, expected) => {
    expect(builtinArgsProblems(name, args, 'a')).toEqual(expected);
  });
});
