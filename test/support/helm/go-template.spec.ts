import { TemplateSet } from './go-template-exec';
import { formatFloat, fromPlain, type GoValue } from './go-values';
import { HELM_FUNCS } from './helm-funcs';
import { coalesce, readYaml } from './chart';

/** Renders `src` with `values` (plain, as if from values.yaml: numbers are float64) as .Values. */
function render(src: string, values: unknown = {}, defines: Record<string, string> = {}): string {
  const set = new TemplateSet(HELM_FUNCS);
  for (const [name, text] of Object.entries(defines)) set.add(name, text);
  set.add('t', src);
  return set.execute('t', new Map<string, GoValue>([['Values', fromPlain(values)]])).replaceAll('<no value>', '');
}

describe('Go template renderer (the subset the chart uses)', () => {
  it('trims whitespace at {{- and -}} and drops comments, but not at {{-3}}', () => {
    expect(render('a  \n {{- "b" -}} \n  c')).toBe('abc');
    expect(render('a {{/* gone */}} b')).toBe('a  b');
    expect(render('a \n{{- /* gone */ -}}\n b')).toBe('ab');
    expect(render('{{-3}}')).toBe('-3');
    expect(render('{{ "}}" }}')).toBe('}}');
  });

  it('if / else if / else, with / else, and Go truth', () => {
    const t = '{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}';
    expect(render(t, { a: 1 })).toBe('A');
    expect(render(t, { a: 0, b: 'x' })).toBe('B');
    expect(render(t, { a: [], b: {} })).toBe('C');
    expect(render('{{ with .Values.m }}{{ .k }}{{ else }}none{{ end }}', { m: { k: 'v' } })).toBe('v');
    expect(render('{{ with .Values.m }}{{ .k }}{{ else }}none{{ end }}', { m: {} })).toBe('none');
  });

  it('range: sorted map keys, index and value variables, else, break and continue', () => {
    expect(render('{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1, c: 3 } })).toBe(
      'a=1;b=2;c=3;',
    );
    expect(render('{{ range $i, $v := .Values.l }}{{ $i }}:{{ . }} {{ end }}', { l: ['x', 'y'] })).toBe('0:x 1:y ');
    expect(render('{{ range .Values.l }}x{{ else }}empty{{ end }}', { l: [] })).toBe('empty');
    expect(render('{{ range .Values.missing }}x{{ else }}nil is empty{{ end }}')).toBe('nil is empty');
    expect(
      render('{{ range .Values.l }}{{ if eq . "skip" }}{{ continue }}{{ end }}{{ if eq . "stop" }}{{ break }}{{ end }}{{ . }}{{ end }}', {
        l: ['a', 'skip', 'b', 'stop', 'c'],
      }),
    ).toBe('ab');
    expect(() => render('{{ range .Values.s }}{{ end }}', { s: 'text' })).toThrow(/range can't iterate over text/);
  });

  it('scopes variables to their block and lets = change the nearest declaration', () => {
    expect(render('{{ $x := "outer" }}{{ if true }}{{ $x = "set" }}{{ end }}{{ $x }}')).toBe('set');
    expect(render('{{ $x := "outer" }}{{ if true }}{{ $x := "shadow" }}{{ end }}{{ $x }}')).toBe('outer');
    expect(() => render('{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}')).toThrow(/undefined variable "\$y"/);
    expect(render('{{ $l := list }}{{ range .Values.l }}{{ $l = append $l . }}{{ end }}{{ join "," $l }}', { l: [1, 2] })).toBe(
      '1,2',
    );
    expect(render('{{ define "d" }}{{ $.Values.v }}{{ end }}{{ include "d" . }}', { v: 'root' })).toBe('root');
  });

  it('a missing map key is nil, a field of nil is an error, as in Helm', () => {
    expect(render('[{{ .Values.nope }}]')).toBe('[]');
    expect(() => render('{{ .Values.nope.deeper }}')).toThrow(/nil pointer evaluating interface \{\}\.deeper/);
    expect(render('{{ (.Values.nope | default dict).deeper | default "d" }}')).toBe('d');
  });

  it('prints values from values.yaml as float64 (large ones in e-notation) and template literals as int', () => {
    expect(render('{{ .Values.a }} {{ .Values.b }} {{ .Values.c }} {{ int .Values.b }}', { a: 3000, b: 1000000, c: 0.5 })).toBe(
      '3000 1e+06 0.5 1000000',
    );
    expect(formatFloat(123456789)).toBe('1.23456789e+08');
    expect(formatFloat(0.00001)).toBe('1e-05');
    expect(formatFloat(100000)).toBe('100000');
    expect(render('{{ add 1 2 }} {{ div 7 2 }} {{ mul 3 "4" }} {{ mod 7 4 }}')).toBe('3 3 12 3');
  });

  it('checks argument types like reflect: an int parameter refuses a float64 from values', () => {
    expect(() => render('{{ nindent .Values.n "x" }}', { n: 4 })).toThrow(/expected int; got float64/);
    expect(() => render('{{ trunc 3 5 }}')).toThrow(/expected string; got int/);
    expect(() => render('{{ eq .Values.n 4 }}', { n: 4 })).toThrow(/incompatible types for comparison/);
    expect(render('{{ eq (int .Values.n) 4 }}', { n: 4 })).toBe('true');
    expect(() => render('{{ printf "%d" .Values.n }}', { n: 4 })).toThrow(/%d of a float64/);
    expect(() => render('{{ quote }}{{ default }}')).toThrow(/wrong number of args for default: want at least 1 got 0/);
  });

  it('refuses a function it does not know, even in a branch that never runs', () => {
    expect(() => render('{{ if false }}{{ urlParse "x" }}{{ end }}')).toThrow(/function "urlParse" not defined/);
    expect(() => render('{{ lookup "v1" "Secret" "ns" "x" }}')).toThrow(/function "lookup" not defined/);
  });

  it('pipes the previous value as the last argument; parentheses and field chains on them', () => {
    expect(render('{{ "x" | printf "%s-%s" "a" }}')).toBe('a-x');
    expect(render('{{ (dict "a" (dict "b" "deep")).a.b }}')).toBe('deep');
    expect(render('{{ print "a" "b" 1 2 "c" }}')).toBe('ab1 2c');
  });

  it('and / or return an operand and stop early', () => {
    expect(render('{{ or "" "b" }} {{ and 1 0 }} {{ and "x" "y" }}')).toBe('b 0 y');
    expect(render('{{ or true (fail "evaluated") }}')).toBe('true');
    expect(() => render('{{ and true (fail "evaluated") }}')).toThrow(/evaluated/);
  });

  it("Sprig's default, quote, toString, trunc, trimSuffix, contains, replace and regexMatch", () => {
    expect(render('{{ default "d" 0 }} {{ default "d" false }} {{ default "d" "" }} {{ default "d" "v" }}')).toBe(
      'd d d v',
    );
    expect(render('{{ quote "a\\"b\\n" 3 }}')).toBe('"a\\"b\\n" "3"');
    expect(render('{{ toString .Values.p }} {{ toString nil }}', { p: 8080 })).toBe('8080 <nil>');
    expect(render('{{ trunc 3 "abcdef" }} {{ trunc -2 "abcdef" }} {{ trimSuffix "-" "a-" }}')).toBe('abc ef a');
    expect(render('{{ contains "b" "abc" }} {{ replace "a" "o" "banana" }}')).toBe('true bonono');
    expect(render('{{ regexMatch "^[0-9]+(k|m)?$" "64k" }} {{ regexMatch "^a$" "ab" }}')).toBe('true false');
  });

  it("Helm's include, tpl, required, fail, toYaml and toJson", () => {
    const defines = { '_h.tpl': '{{ define "h.greet" }}hi {{ . }}{{ end }}' };
    expect(render('{{ include "h.greet" "bob" | upper }}', {}, defines)).toBe('HI BOB');
    expect(render('{{ tpl .Values.t . }}', { t: '{{ .Values.x }}!', x: 'ok' })).toBe('ok!');
    expect(() => render('{{ required "x is needed" .Values.x }}')).toThrow(/execution error at \(t:1:4\): x is needed/);
    expect(() => render('{{ required "x is needed" .Values.x }}', { x: '' })).toThrow(/x is needed/);
    expect(() => render('\n\n  {{ fail "no" }}')).toThrow(/execution error at \(t:3:6\): no/);
    expect(render('{{ toYaml .Values.m }}', { m: { b: [1, 'on'], a: { c: '3000' } } })).toBe(
      'a:\n  c: "3000"\nb:\n- 1\n- "on"',
    );
    expect(render('{{ toJson .Values.m }}', { m: { z: '<&>', a: 1e6 } })).toBe('{"a":1000000,"z":"\\u003c\\u0026\\u003e"}');
    expect(render('{{ toYaml (dict) }}')).toBe('{}');
  });

  it('reads values as Helm does (YAML 1.1) and coalesces user values over them', () => {
    const defaults = readYaml('a: on\nb: { c: 1, d: 2 }\ne: keep\n', 'values.yaml');
    const merged = coalesce(defaults, fromPlain({ b: { d: null, f: 3 }, e: 'replaced' }));
    expect(merged).toEqual(
      fromPlain({ a: true, b: { c: 1, f: 3 }, e: 'replaced' }),
    );
  });
});
