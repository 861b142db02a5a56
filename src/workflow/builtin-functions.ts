import { isObject } from '../common/is-object';
import { FIELD_PATH, readPath } from './guard';
import { renderTemplate, stringifyValue, templateProblems } from './template';
import type { BuiltinFunctionName, DefinitionProblem, FunctionAction } from './workflow-definition';

/** A data key a step writes to. */
export const OUTPUT_KEY = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** The longest template (prompt, system prompt, `template` function), in UTF-8 bytes. */
export const MAX_TEMPLATE_BYTES = 32 * 1024;

const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const DEFAULT_SEPARATOR = '\n\n';

/** A built-in function failed on the run's data; the message is safe to show users. */
export class FunctionError extends Error {
  override readonly name = 'FunctionError';
}

/** Problems with a data key a step writes to (empty when it is valid). */
export function outputKeyProblems(value: unknown, path: string): DefinitionProblem[] {
  if (typeof value !== 'string' || !OUTPUT_KEY.test(value)) {
    return [{ path, message: `must be a data key matching ${OUTPUT_KEY.source}` }];
  }
  if (RESERVED_KEYS.has(value)) return [{ path, message: `'${value}' is a reserved name` }];
  return [];
}

/** Problems with a template string: type, size and placeholders. */
export function templateStringProblems(value: unknown, path: string): DefinitionProblem[] {
  if (typeof value !== 'string' || value === '') return [{ path, message: 'must be a non-empty string' }];
  if (Buffer.byteLength(value, 'utf8') > MAX_TEMPLATE_BYTES) {
    return [{ path, message: `must be at most ${MAX_TEMPLATE_BYTES / 1024} KiB` }];
  }
  return templateProblems(value, path);
}

/** Runs a built-in function on the data and returns the new data (the input is never modified). */
export function runBuiltin(action: FunctionAction, data: Record<string, unknown>): Record<string, unknown> {
  const { args } = action;
  switch (action.function) {
    case 'set':
      return { ...data, ...objectArg(args, 'values') };
    case 'template':
      return withKey(data, stringArg(args, 'output'), renderTemplate(stringArg(args, 'template'), data));
    case 'pick':
      return pick(data, stringsArg(args, 'keys'), true);
    case 'omit':
      return pick(data, stringsArg(args, 'keys'), false);
    case 'rename':
      return rename(data, objectArg(args, 'map'));
    case 'join':
      return withKey(data, stringArg(args, 'output'), join(data, args));
    case 'word_count':
      return wordCount(data, stringArg(args, 'field'), stringArg(args, 'output'));
    case 'parse_json':
      return parseJson(data, stringArg(args, 'field'), optionalStringArg(args, 'output'));
  }
}

/** A copy of the data with one key set (as an own property, whatever its name). */
function withKey(data: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  return { ...data, [key]: value };
}

function pick(data: Record<string, unknown>, keys: string[], keep: boolean): Record<string, unknown> {
  const wanted = new Set(keys);
  return Object.fromEntries(Object.entries(data).filter(([k]) => wanted.has(k) === keep));
}

function rename(data: Record<string, unknown>, map: Record<string, unknown>): Record<string, unknown> {
  const kept = Object.entries(data).filter(([k]) => !Object.hasOwn(map, k));
  const renamed = Object.entries(map)
    .filter(([from]) => Object.hasOwn(data, from))
    .map(([from, to]) => [String(to), data[from]] as const);
  return Object.fromEntries([...kept, ...renamed]);
}

function join(data: Record<string, unknown>, args: Record<string, unknown>): string {
  const separator = optionalStringArg(args, 'separator') ?? DEFAULT_SEPARATOR;
  return stringsArg(args, 'fields')
    .map((field) => readPath(data, field))
    .filter((value) => value !== undefined && value !== null)
    .map(stringifyValue)
    .join(separator);
}

function wordCount(data: Record<string, unknown>, field: string, output: string): Record<string, unknown> {
  const value = readPath(data, field);
  if (value === undefined || value === null) return withKey(data, output, 0);
  if (typeof value !== 'string') throw new FunctionError(`word_count: field '${field}' is not a string`);
  return withKey(data, output, value.split(/\s+/).filter((w) => w !== '').length);
}

const FENCE = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/i;

function parseJson(
  data: Record<string, unknown>,
  field: string,
  output: string | undefined,
): Record<string, unknown> {
  const value = readPath(data, field);
  const invalid = new FunctionError(`parse_json: field '${field}' is not valid JSON`);
  if (typeof value !== 'string') throw invalid;
  const text = FENCE.exec(value)?.[1] ?? value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid;
  }
  return withKey(data, output ?? topLevelKey(field), parsed);
}

function topLevelKey(field: string): string {
  return field.split('.')[0] ?? field;
}

function stringArg(args: Record<string, unknown>, name: string): string {
  const value = args[name];
  if (typeof value !== 'string') throw new FunctionError(`argument '${name}' must be a string`);
  return value;
}

function optionalStringArg(args: Record<string, unknown>, name: string): string | undefined {
  return args[name] === undefined ? undefined : stringArg(args, name);
}

function stringsArg(args: Record<string, unknown>, name: string): string[] {
  const value = args[name];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new FunctionError(`argument '${name}' must be an array of strings`);
  }
  return value;
}

function objectArg(args: Record<string, unknown>, name: string): Record<string, unknown> {
  const value = args[name];
  if (!isObject(value)) throw new FunctionError(`argument '${name}' must be an object`);
  return value;
}

type ArgCheck = (value: unknown, path: string) => DefinitionProblem[];

interface ArgSpec {
  required: Record<string, ArgCheck>;
  optional: Record<string, ArgCheck>;
}

const keysCheck: ArgCheck = (value, path) =>
  Array.isArray(value) && value.length > 0
    ? value.flatMap((key, i) =>
        typeof key === 'string' && key !== '' ? [] : [{ path: `${path}[${i}]`, message: 'must be a key' }],
      )
    : [{ path, message: 'must be a non-empty array of keys' }];

const fieldCheck: ArgCheck = (value, path) =>
  typeof value === 'string' && FIELD_PATH.test(value)
    ? []
    : [{ path, message: "must be a dotted path such as 'review.score'" }];

const fieldsCheck: ArgCheck = (value, path) =>
  Array.isArray(value) && value.length > 0
    ? value.flatMap((field, i) => fieldCheck(field, `${path}[${i}]`))
    : [{ path, message: 'must be a non-empty array of dotted paths' }];

const stringCheck: ArgCheck = (value, path) =>
  typeof value === 'string' ? [] : [{ path, message: 'must be a string' }];

const valuesCheck: ArgCheck = (value, path) =>
  isObject(value)
    ? Object.keys(value).flatMap((key) => outputKeyProblems(key, `${path}.${key}`))
    : [{ path, message: 'must be an object' }];

const mapCheck: ArgCheck = (value, path) => {
  if (!isObject(value) || Object.keys(value).length === 0) {
    return [{ path, message: 'must be a non-empty object of {from: to}' }];
  }
  const targets = Object.values(value);
  return Object.entries(value).flatMap(([from, to], i) => [
    ...outputKeyProblems(to, `${path}.${from}`),
    ...(targets.indexOf(to) < i
      ? [{ path: `${path}.${from}`, message: `duplicate target '${String(to)}'` }]
      : []),
  ]);
};

const ARG_SPECS: Record<BuiltinFunctionName, ArgSpec> = {
  set: { required: { values: valuesCheck }, optional: {} },
  template: { required: { output: outputKeyProblems, template: templateStringProblems }, optional: {} },
  pick: { required: { keys: keysCheck }, optional: {} },
  omit: { required: { keys: keysCheck }, optional: {} },
  rename: { required: { map: mapCheck }, optional: {} },
  join: {
    required: { fields: fieldsCheck, output: outputKeyProblems },
    optional: { separator: stringCheck },
  },
  word_count: { required: { field: fieldCheck, output: outputKeyProblems }, optional: {} },
  parse_json: { required: { field: fieldCheck }, optional: { output: outputKeyProblems } },
};

/** Everything wrong with a built-in function's args (`path` is the args' path). */
export function builtinArgsProblems(
  name: BuiltinFunctionName,
  args: unknown,
  path: string,
): DefinitionProblem[] {
  if (!isObject(args)) return [{ path, message: 'must be an object' }];
  const spec = ARG_SPECS[name];
  const problems = Object.keys(args)
    .filter((key) => !Object.hasOwn(spec.required, key) && !Object.hasOwn(spec.optional, key))
    .map((key) => ({ path: `${path}.${key}`, message: `unknown field '${key}'` }));
  for (const [key, check] of Object.entries(spec.required)) {
    const value = args[key];
    if (value === undefined) problems.push({ path: `${path}.${key}`, message: `'${name}' needs '${key}'` });
    else problems.push(...check(value, `${path}.${key}`));
  }
  for (const [key, check] of Object.entries(spec.optional)) {
    const value = args[key];
    if (value !== undefined) problems.push(...check(value, `${path}.${key}`));
  }
  if (name === 'parse_json' && args.output === undefined && typeof args.field === 'string') {
    problems.push(...defaultOutputProblems(args.field, `${path}.output`));
  }
  return problems;
}

function defaultOutputProblems(field: string, path: string): DefinitionProblem[] {
  if (!FIELD_PATH.test(field)) return [];
  const key = topLevelKey(field);
  return outputKeyProblems(key, path).length
    ? [{ path, message: `the default output '${key}' is not a valid data key; set 'output'` }]
    : [];
}
