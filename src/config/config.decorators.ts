import { Transform, Type } from 'class-transformer';
import { IsArray, ValidateBy, ValidateNested, type ValidationOptions } from 'class-validator';
import { parseDuration, parseSize } from './units';

/** Marks a config value that failed unit parsing, so validation can report the original input. */
class UnparsedValue {
  constructor(readonly raw: unknown) {}
}

function unitProperty(kind: 'duration' | 'size', parse: (v: unknown) => number | undefined, example: string) {
  return (options?: ValidationOptions): PropertyDecorator => {
    const transform = Transform(({ value }: { value: unknown }) =>
      value === undefined ? undefined : (parse(value) ?? new UnparsedValue(value)),
    );
    const validate = ValidateBy(
      {
        name: `is_${kind}`,
        validator: {
          validate: (value: unknown) => typeof value === 'number',
          defaultMessage: (args) => {
            const value: unknown = args?.value;
            const raw = value instanceof UnparsedValue ? value.raw : value;
            return `must be a ${kind} like ${example} (got ${JSON.stringify(raw) ?? String(raw)})`;
          },
        },
      },
      options,
    );
    return (target: object, key: string | symbol) => {
      transform(target, key);
      validate(target, key);
    };
  };
}

/** A duration in config (`100ms`, `30s`, `5m`), stored as milliseconds. */
export const Duration = unitProperty('duration', parseDuration, '"100ms", "30s" or "5m"');
/** A size in config (`64KB`, `10MB`, `1GB`), stored as bytes. */
export const Size = unitProperty('size', parseSize, '"64KB", "10MB" or "1GB"');

const SECRET_KEYS = new WeakMap<object, Set<string>>();

/** Marks a config property as secret: it is redacted wherever the config is printed. */
export function Secret(): PropertyDecorator {
  return (target: object, key: string | symbol) => {
    const keys = SECRET_KEYS.get(target) ?? new Set<string>();
    keys.add(String(key));
    SECRET_KEYS.set(target, keys);
  };
}

export function isSecretProperty(instance: object, key: string): boolean {
  let proto: object | null = Object.getPrototypeOf(instance) as object | null;
  while (proto) {
    if (SECRET_KEYS.get(proto)?.has(key)) return true;
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return false;
}

/** How a nested config class sits under its property: one object, a list of them, or a map of them by key. */
export type NestedShape = 'object' | 'list' | 'map';
export interface NestedProperty {
  shape: NestedShape;
  type: () => new () => object;
}

const NESTED = new WeakMap<object, Map<string, NestedProperty>>();

function nested(shape: NestedShape, type: () => new () => object): PropertyDecorator {
  const each = shape !== 'object';
  const validators = [
    ...(shape === 'list' ? [IsArray()] : []),
    ValidateNested(each ? { each } : undefined),
    Type(type),
  ];
  return (target: object, key: string | symbol) => {
    for (const decorate of validators) decorate(target, key);
    const properties = NESTED.get(target) ?? new Map<string, NestedProperty>();
    properties.set(String(key), { shape, type });
    NESTED.set(target, properties);
  };
}

/** A nested config section (validated as its class). */
export const Nested = (type: () => new () => object): PropertyDecorator => nested('object', type);
/** A list of config records (validated each as its class); overlays may merge it by `id`. */
export const NestedList = (type: () => new () => object): PropertyDecorator => nested('list', type);
/** A map of config records by a free key (providers by id, tiers by name), validated each as its class. */
export const NestedMap = (type: () => new () => object): PropertyDecorator => nested('map', type);

/** What a class's property holds when it is a nested section, list or map (inherited ones included). */
export function nestedProperty(cls: new () => object, key: string): NestedProperty | undefined {
  let proto: object | null = cls.prototype as object;
  while (proto) {
    const found = NESTED.get(proto)?.get(key);
    if (found) return found;
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return undefined;
}
