import { GraphQLError, GraphQLScalarType, Kind, type ObjectValueNode, type ValueNode } from 'graphql';

/**
 * How deep a JSON input (a variable's value) may nest. The query limits bound the document, not its variables,
 * and the code behind a resolver walks these values recursively (request validation overflows its stack a few
 * thousand levels down): 64 is far beyond any tool schema or workflow definition.
 */
export const MAX_JSON_DEPTH = 64;

/** Any JSON value (metadata, event data, tool schemas). */
export const GraphQLJSON = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value: unknown) => value,
  parseValue: (value: unknown) => {
    const depth = depthBeyond(value, MAX_JSON_DEPTH);
    if (depth !== undefined) {
      throw new GraphQLError(`JSON values may nest at most ${MAX_JSON_DEPTH} levels deep.`);
    }
    return value;
  },
  parseLiteral: (ast, variables) => literal(ast, variables ?? undefined),
});

/** More than `max` levels of arrays/objects (walked without recursion): the depth reached, else undefined. */
function depthBeyond(value: unknown, max: number): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const stack: Array<{ value: object; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: at, depth } = stack.pop()!;
    if (depth > max) return depth;
    for (const child of Object.values(at)) {
      if (typeof child === 'object' && child !== null)
        stack.push({ value: child as object, depth: depth + 1 });
    }
  }
  return undefined;
}

function literal(ast: ValueNode, variables: Record<string, unknown> | undefined): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
    case Kind.ENUM:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((value) => literal(value, variables));
    case Kind.OBJECT:
      return object(ast, variables);
    case Kind.VARIABLE:
      // Own keys only: `$constructor` must not reach Object.prototype's.
      return variables && Object.hasOwn(variables, ast.name.value) ? variables[ast.name.value] : undefined;
  }
}

function object(
  ast: ObjectValueNode,
  variables: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  for (const field of ast.fields) {
    // defineProperty: a `__proto__` field is a key like any other (as JSON.parse makes it), not a prototype.
    Object.defineProperty(value, field.name.value, {
      value: literal(field.value, variables),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return value;
}
