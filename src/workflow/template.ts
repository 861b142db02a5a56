import { FIELD_PATH, readPath } from './guard';
import type { DefinitionProblem } from './workflow-definition';

/** A template split into literal text and `{{ path }}` placeholders. */
type Part = string | { path: string };

interface Scan {
  parts: Part[];
  problems: Array<{ offset: number; message: string }>;
}

const CACHE_LIMIT = 500;
const compiled = new Map<string, Part[]>();

/**
 * The template with each `{{ path }}` (spaces optional) replaced by the value at that data path: strings as
 * they are, numbers and booleans via String, null and missing values as '', objects and arrays as JSON.
 * Malformed placeholders (see templateProblems) are left as literal text.
 */
export function renderTemplate(template: string, data: Record<string, unknown>): string {
  return compile(template)
    .map((part) => (typeof part === 'string' ? part : stringifyValue(readPath(data, part.path))))
    .join('');
}

/** A data value as template text (see renderTemplate). */
export function stringifyValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (typeof value === 'object' && value !== null) return JSON.stringify(value) ?? '';
  return '';
}

/** Everything wrong with a template: an unclosed `{{`, an empty placeholder or an invalid path in one. */
export function templateProblems(template: string, path: string): DefinitionProblem[] {
  return scan(template).problems.map((p) => ({ path, message: `${p.message} at offset ${p.offset}` }));
}

function compile(template: string): Part[] {
  const cached = compiled.get(template);
  if (cached) return cached;
  const { parts } = scan(template);
  if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value as string);
  compiled.set(template, parts);
  return parts;
}

function scan(template: string): Scan {
  const result: Scan = { parts: [], problems: [] };
  let text = '';
  let position = 0;
  while (position < template.length) {
    const open = template.indexOf('{{', position);
    if (open < 0) break;
    const close = template.indexOf('}}', open + 2);
    if (close < 0) {
      result.problems.push({ offset: open, message: "unclosed '{{'" });
      break;
    }
    const inner = template.slice(open + 2, close).trim();
    const problem = placeholderProblem(inner);
    if (problem) {
      result.problems.push({ offset: open, message: problem });
      text += template.slice(position, close + 2);
    } else {
      result.parts.push(text + template.slice(position, open), { path: inner });
      text = '';
    }
    position = close + 2;
  }
  result.parts.push(text + template.slice(position));
  result.parts = result.parts.filter((p) => p !== '');
  return result;
}

function placeholderProblem(inner: string): string | undefined {
  if (inner === '') return 'empty placeholder';
  if (!FIELD_PATH.test(inner)) return `invalid placeholder path '${inner.slice(0, 64)}'`;
  return undefined;
}
