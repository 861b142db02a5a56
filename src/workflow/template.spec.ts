import { renderTemplate, stringifyValue, templateProblems } from './template';

describe('renderTemplate', () => {
  const data = {
    topic: 'Petri nets',
    count: 3,
    ratio: 0.5,
    ok: true,
    no: false,
    nil: null,
    list: ['a', 1],
    obj: { a: { b: 'deep' } },
    items: [{ name: 'first' }],
  };

  it.each([
    ['Write about {{topic}}.', 'Write about Petri nets.'],
    ['{{ topic }}|{{topic }}|{{  topic}}', 'Petri nets|Petri nets|Petri nets'],
    ['{{count}} {{ratio}}', '3 0.5'],
    ['{{ok}}/{{no}}', 'true/false'],
    ['[{{nil}}]', '[]'],
    ['[{{missing}}]', '[]'],
    ['[{{obj.a.missing}}]', '[]'],
    ['{{list}}', '["a",1]'],
    ['{{obj}}', '{"a":{"b":"deep"}}'],
    ['{{obj.a.b}} {{items.0.name}}', 'deep first'],
    ['no placeholders', 'no placeholders'],
    ['', ''],
    ['{{topic}}{{count}}', 'Petri nets3'],
    ['a } b { c }} d', 'a } b { c }} d'],
  ])('renders %p', (template, expected) => {
    expect(renderTemplate(template, data)).toBe(expected);
  });

  it('leaves malformed placeholders as text', () => {
    expect(renderTemplate('{{}} {{ a b }} {{topic}} {{topic', data)).toBe(
      '{{}} {{ a b }} Petri nets {{topic',
    );
  });

  it('does not read prototype properties', () => {
    expect(renderTemplate('[{{constructor}}][{{__proto__}}][{{topic.length}}]', data)).toBe('[][][]');
  });

  it('renders the same template against different data (cached compilation)', () => {
    expect(renderTemplate('Hi {{name}}', { name: 'Ada' })).toBe('Hi Ada');
    expect(renderTemplate('Hi {{name}}', { name: 'Bob' })).toBe('Hi Bob');
  });

  it('keeps working past the cache limit', () => {
    for (let i = 0; i < 600; i++) {
      expect(renderTemplate(`{{v}}-${i}`, { v: 'x' })).toBe(`x-${i}`);
    }
    expect(renderTemplate('{{v}}-0', { v: 'y' })).toBe('y-0');
  });
});

describe('stringifyValue', () => {
  it.each([
    ['s', 's'],
    [0, '0'],
    [true, 'true'],
    [null, ''],
    [undefined, ''],
    [[], '[]'],
    [{}, '{}'],
  ])('%p → %p', (value, expected) => {
    expect(stringifyValue(value)).toBe(expected);
  });
});

describe('templateProblems', () => {
  it('accepts valid templates', () => {
    expect(templateProblems('Hello {{ name }}, see {{a.b.0}} and {{x-y_z}}. } {', 'p')).toEqual([]);
    expect(templateProblems('', 'p')).toEqual([]);
  });

  it.each([
    ['Hello {{name', [{ path: 'p', message: "unclosed '{{' at offset 6" }]],
    ['{{ }}', [{ path: 'p', message: 'empty placeholder at offset 0' }]],
    ['x {{}}', [{ path: 'p', message: 'empty placeholder at offset 2' }]],
    ['{{ a b }}', [{ path: 'p', message: "invalid placeholder path 'a b' at offset 0" }]],
    ['{{a..b}}', [{ path: 'p', message: "invalid placeholder path 'a..b' at offset 0" }]],
    ['{{ .a }}', [{ path: 'p', message: "invalid placeholder path '.a' at offset 0" }]],
    ['{{a.b.}}', [{ path: 'p', message: "invalid placeholder path 'a.b.' at offset 0" }]],
  ])('reports %p', (template, expected) => {
    expect(templateProblems(template, 'p')).toEqual(expected);
  });

  it('reports every problem', () => {
    expect(templateProblems('{{}} {{ok}} {{a b}} {{end', 'x.prompt')).toEqual([
      { path: 'x.prompt', message: 'empty placeholder at offset 0' },
      { path: 'x.prompt', message: "invalid placeholder path 'a b' at offset 12" },
      { path: 'x.prompt', message: "unclosed '{{' at offset 20" },
    ]);
  });
});
