import { GraphQLScalarType, Kind, type ObjectValueNode, type ValueNode } from 'graphql';

/** Any JSON value (metadata, event data, tool schemas). */
export const GraphQLJSON = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value: unknown) => value,
  parseValue: (value: unknown) => value,
  parseLiteral: (ast, variables) => literal(ast, variables ?? undefined),
});

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
      return variables?.[ast.name.value];
  }
}

function object(
  ast: ObjectValueNode,
  variables: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  for (const field of ast.fields) value[field.name.value] = literal(field.value, variables);
  return value;
}
