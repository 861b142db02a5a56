import { graphqlSync, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { GraphQLJSON, MAX_JSON_DEPTH } from './json.scalar';

/** A schema whose one field echoes its JSON argument, to run the scalar as graphql-js does. */
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: {
      echo: {
        type: GraphQLJSON,
        args: { value: { type: GraphQLJSON } },
        resolve: (_root, args: { value: unknown }) => args.value,
      },
      keys: {
        type: GraphQLString,
        args: { value: { type: GraphQLJSON } },
        resolve: (_root, args: { value: unknown }) =>
          JSON.stringify({
            own: Object.keys(args.value as object),
            prototypeIsObject: Object.getPrototypeOf(args.value) === Object.prototype,
          }),
      },
    },
  }),
});

const nested = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);

describe('the JSON scalar', () => {
  it(`takes variables nested up to ${MAX_JSON_DEPTH} levels and refuses deeper ones as bad input`, () => {
    const query = 'query ($v: JSON) { echo(value: $v) }';
    expect(graphqlSync({ schema, source: query, variableValues: { v: nested(MAX_JSON_DEPTH) } }).errors).toBe(
      undefined,
    );
    for (const v of [nested(MAX_JSON_DEPTH + 1), nested(20_000), { a: [{ b: nested(MAX_JSON_DEPTH) }] }]) {
      const result = graphqlSync({ schema, source: query, variableValues: { v } });
      expect(result.errors?.[0]?.message).toContain(
        `JSON values may nest at most ${MAX_JSON_DEPTH} levels deep`,
      );
      expect(result.data).toBeUndefined();
    }
    // Wide is not deep.
    const wide = { list: Array.from({ length: 10_000 }, (_, i) => ({ i })) };
    expect(graphqlSync({ schema, source: query, variableValues: { v: wide } }).data).toEqual({ echo: wide });
  });

  it('keeps a literal `__proto__` field as a key and reads only variables that were given', () => {
    const proto = graphqlSync({ schema, source: '{ keys(value: { __proto__: { polluted: true }, a: 1 }) }' });
    expect(JSON.parse((proto.data as { keys: string }).keys)).toEqual({
      own: ['__proto__', 'a'],
      prototypeIsObject: true,
    });
    const inherited = graphqlSync({
      schema,
      source: 'query ($constructor: String) { echo(value: { c: $constructor, d: [$constructor] }) }',
    });
    expect(inherited.errors).toBeUndefined();
    expect(inherited.data).toEqual({ echo: { c: undefined, d: [undefined] } });
  });
});
