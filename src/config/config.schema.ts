import { getMetadataStorage } from 'class-validator';
import { AppConfig } from './app-config';
import { nestedProperty } from './config.decorators';

/**
 * What the configuration schema (the AppConfig classes) expects at a key path, so that an environment variable's
 * text is read as that and nothing else: `CB__REDIS__KEY_PREFIX=myapp:` stays the string "myapp:".
 *   string   the text as it is
 *   number   a decimal number
 *   boolean  true / false
 *   unit     a duration or size: the text as it is (the unit parser reads "30s", "10MB" and bare numbers)
 *   list     JSON or YAML: [a, b]
 *   map      JSON or YAML: {a: 1}
 *   scalar   a value under a free-form map (headers, weights, routes): a YAML scalar, else the text
 *   unknown  not in the schema: the text as it is (validation then names the unknown key)
 */
export type ValueKind = 'string' | 'number' | 'boolean' | 'unit' | 'list' | 'map' | 'scalar' | 'unknown';

type ConfigClass = new () => object;

/** class-validator's names for the checks that say what a property's value is. */
const KIND_BY_CHECK: Record<string, ValueKind> = {
  is_duration: 'unit',
  is_size: 'unit',
  isBoolean: 'boolean',
  isInt: 'number',
  isNumber: 'number',
  isArray: 'list',
  isObject: 'map',
  isString: 'string',
  matches: 'string',
  isIn: 'string',
  isNotEmpty: 'string',
  minLength: 'string',
};
/** The most telling check wins when a property has several (`@Duration() @Min(1)` is a unit). */
const PRECEDENCE: ValueKind[] = ['unit', 'boolean', 'list', 'map', 'number', 'string'];

export function valueKindAt(path: readonly string[]): ValueKind {
  let cls: ConfigClass = AppConfig;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const last = i === path.length - 1;
    const nested = nestedProperty(cls, key);
    if (nested) {
      if (last) return nested.shape === 'list' ? 'list' : 'map';
      if (nested.shape === 'list') return 'unknown'; // list items are not addressed by env vars
      if (nested.shape === 'map') {
        i++; // the free key (a provider id, a tier name)
        if (i === path.length - 1) return 'map';
      }
      cls = nested.type();
      continue;
    }
    const own = ownKind(cls, key);
    if (own === 'map' && !last) return 'scalar';
    return last ? own : 'unknown';
  }
  return 'map';
}

function ownKind(cls: ConfigClass, key: string): ValueKind {
  const checks = getMetadataStorage()
    .getTargetValidationMetadatas(cls, '', true, false)
    .filter((m) => m.propertyName === key);
  const kinds = new Set<ValueKind>();
  for (const check of checks) {
    const name = check.name ?? '';
    const kind = KIND_BY_CHECK[name];
    if (kind === 'number' && check.each) continue;
    if (kind === 'string' && check.each) kinds.add('list');
    else if (kind) kinds.add(kind);
    else if ((name === 'min' || name === 'max') && !check.each) kinds.add('number');
  }
  return PRECEDENCE.find((kind) => kinds.has(kind)) ?? (checks.length > 0 ? 'string' : 'unknown');
}
