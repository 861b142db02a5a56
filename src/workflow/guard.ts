import { isObject } from '../common/is-object';
import { patternMatches, patternProblem } from './guard-pattern';
import { GUARD_OPS, type DefinitionProblem, type Guard, type GuardOp } from './workflow-definition';

/** A dotted data path: `a`, `a.b`, `items.0.name`. */
export const FIELD_PATH = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** The deepest a guard may nest (`{not: {all: [...]}}` is two levels). */
export const MAX_GUARD_DEPTH = 8;

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);
const FORMS = ['all', 'any', 'not', 'field'] as const;
const FIELD_KEYS = new Set(['field', 'op', 'value']);
const VALUE_OPS = new Set<GuardOp>(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'matches', 'in']);
const ORDER_OPS = new Set<GuardOp>(['gt', 'gte', 'lt', 'lte']);

/**
 * The value at a dotted path (`a.b.0.c`), or undefined. Numeric segments index arrays; only own properties
 * are followed, and `__proto__`, `constructor` and `prototype` never are.
 */
export function readPath(data: unknown, path: string): unknown {
  let current: unknown = data;
  for (const segment of path.split('.')) {
    current = readSegment(current, segment);
    if (current === undefined) return undefined;
  }
  return current;
}

function readSegment(value: unknown, segment: string): unknown {
  if (FORBIDDEN_SEGMENTS.has(segment)) return undefined;
  if (Array.isArray(value)) return /^\d+$/.test(segment) ? (value as unknown[])[Number(segment)] : undefined;
  if (isObject(value) && Object.hasOwn(value, segment)) return value[segment];
  return undefined;
}

/** JSON deep equality (object key order is irrelevant; undefined-valued keys count as absent). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
    );
  }
  if (!isObject(a) || !isObject(b)) return false;
  const aKeys = definedKeys(a);
  const bKeys = definedKeys(b);
  return aKeys.length === bKeys.length && aKeys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

function definedKeys(value: Record<string, unknown>): string[] {
  return Object.keys(value).filter((k) => value[k] !== undefined);
}

/** Whether the guard holds on the data. Expects a guard that passed guardProblems. */
export function evaluateGuard(guard: Guard, data: Record<string, unknown>): boolean {
  if ('all' in guard) return guard.all.every((g) => evaluateGuard(g, data));
  if ('any' in guard) return guard.any.some((g) => evaluateGuard(g, data));
  if ('not' in guard) return !evaluateGuard(guard.not, data);
  return compare(guard.op, readPath(data, guard.field), guard.value);
}

function compare(op: GuardOp, actual: unknown, expected: unknown): boolean {
  switch (op) {
    case 'eq':
      return jsonEqual(actual, expected);
    case 'ne':
      return !jsonEqual(actual, expected);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return order(op, actual, expected);
    case 'exists':
      return actual !== undefined && actual !== null;
    case 'missing':
      return actual === undefined || actual === null;
    case 'truthy':
      return isTruthy(actual);
    case 'falsy':
      return !isTruthy(actual);
    case 'contains':
      return contains(actual, expected);
    case 'matches':
      return matches(actual, expected);
    case 'in':
      return Array.isArray(expected) && expected.some((x) => jsonEqual(actual, x));
  }
}

function order(op: 'gt' | 'gte' | 'lt' | 'lte', a: unknown, b: unknown): boolean {
  const comparable =
    (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string');
  if (!comparable) return false;
  switch (op) {
    case 'gt':
      return a > b;
    case 'gte':
      return a >= b;
    case 'lt':
      return a < b;
    case 'lte':
      return a <= b;
  }
}

/** JS truthiness, except that an empty array is falsy too. */
function isTruthy(value: unknown): boolean {
  return Array.isArray(value) ? value.length > 0 : Boolean(value);
}

function contains(actual: unknown, expected: unknown): boolean {
  if (typeof actual === 'string') return typeof expected === 'string' && actual.includes(expected);
  if (Array.isArray(actual)) return actual.some((x) => jsonEqual(x, expected));
  return false;
}

function matches(actual: unknown, source: unknown): boolean {
  return typeof actual === 'string' && typeof source === 'string' && patternMatches(source, actual);
}

/** Everything wrong with a raw guard (empty: it is a valid Guard and may be cast). */
export function guardProblems(raw: unknown, path: string): DefinitionProblem[] {
  return checkGuard(raw, path, 1);
}

function checkGuard(raw: unknown, path: string, depth: number): DefinitionProblem[] {
  if (!isObject(raw)) return [{ path, message: 'a guard must be an object' }];
  if (depth > MAX_GUARD_DEPTH) {
    return [{ path, message: `guards may nest at most ${MAX_GUARD_DEPTH} levels deep` }];
  }
  const forms = FORMS.filter((f) => Object.hasOwn(raw, f));
  const [form] = forms;
  if (form === undefined || forms.length > 1) {
    const found = forms.length ? ` (found ${forms.map((f) => `'${f}'`).join(', ')})` : '';
    return [{ path, message: `a guard needs exactly one of 'all', 'any', 'not' or 'field'${found}` }];
  }
  const allowed = form === 'field' ? FIELD_KEYS : new Set<string>([form]);
  const unknown = Object.keys(raw)
    .filter((k) => !allowed.has(k))
    .map((k) => ({ path: `${path}.${k}`, message: `unknown field '${k}'` }));
  return [...unknown, ...checkForm(form, raw, path, depth)];
}

function checkForm(
  form: (typeof FORMS)[number],
  raw: Record<string, unknown>,
  path: string,
  depth: number,
): DefinitionProblem[] {
  switch (form) {
    case 'all':
    case 'any':
      return checkList(raw[form], `${path}.${form}`, depth);
    case 'not':
      return checkGuard(raw.not, `${path}.not`, depth + 1);
    case 'field':
      return checkComparison(raw, path);
  }
}

function checkList(list: unknown, path: string, depth: number): DefinitionProblem[] {
  if (!Array.isArray(list) || list.length === 0) {
    return [{ path, message: 'must be a non-empty array of guards' }];
  }
  return list.flatMap((g, i) => checkGuard(g, `${path}[${i}]`, depth + 1));
}

function checkComparison(raw: Record<string, unknown>, path: string): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const { field, op } = raw;
  if (typeof field !== 'string' || !FIELD_PATH.test(field)) {
    problems.push({ path: `${path}.field`, message: "must be a dotted path such as 'review.score'" });
  }
  if (!isGuardOp(op)) {
    problems.push({ path: `${path}.op`, message: `must be one of ${GUARD_OPS.join(', ')}` });
    return problems;
  }
  return [...problems, ...checkValue(op, raw, `${path}.value`)];
}

function isGuardOp(op: unknown): op is GuardOp {
  return typeof op === 'string' && (GUARD_OPS as readonly string[]).includes(op);
}

function checkValue(op: GuardOp, raw: Record<string, unknown>, path: string): DefinitionProblem[] {
  const value = raw.value;
  if (!VALUE_OPS.has(op)) {
    return value === undefined ? [] : [{ path, message: `'${op}' takes no value` }];
  }
  if (value === undefined) return [{ path, message: `'${op}' needs a value` }];
  if (ORDER_OPS.has(op) && typeof value !== 'number' && typeof value !== 'string') {
    return [{ path, message: `'${op}' needs a number or a string` }];
  }
  if (op === 'in' && !Array.isArray(value)) return [{ path, message: "'in' needs an array" }];
  if (op === 'matches') return regexProblems(value, path);
  return [];
}

function regexProblems(value: unknown, path: string): DefinitionProblem[] {
  if (typeof value !== 'string') return [{ path, message: "'matches' needs a regular expression string" }];
  const problem = patternProblem(value);
  return problem ? [{ path, message: problem }] : [];
}
