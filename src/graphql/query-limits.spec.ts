import { readFileSync } from 'node:fs';
import {
  buildSchema,
  type DocumentNode,
  getIntrospectionQuery,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
} from 'graphql';
import { GraphqlProtocolConfig } from '../config/app-config';
import { QueryLimits } from './query-limits';
import { SCHEMA_FILE } from './schema-file';

const schema = buildSchema(readFileSync(SCHEMA_FILE, 'utf8'));

function limitsWith(
  overrides: Partial<GraphqlProtocolConfig> = {},
  environment: 'development' | 'production' = 'development',
): QueryLimits {
  const config = Object.assign(new GraphqlProtocolConfig(), {
    enabled: true,
    max_subscriptions: 10,
    subscription_timeout: 60_000,
    ...overrides,
  });
  return new QueryLimits(config, environment);
}

const defaults = limitsWith();

/** The refusal of `source`, or undefined when it passes every limit (and parses). */
function refusal(source: string, limits = defaults): Record<string, unknown> | undefined {
  const result = limits.prepare(source);
  if (!(result instanceof GraphQLError)) return undefined;
  return { message: result.message, ...result.extensions };
}

function document(source: string, limits = defaults): DocumentNode {
  const result = limits.prepare(source);
  if (result instanceof GraphQLError) throw new Error(`refused: ${result.message}`);
  return result;
}

/** Errors of graphql-js validation with the limits' rules, as both transports run it. */
function validationErrors(source: string, limits = defaults): string[] {
  return validate(schema, document(source, limits), [...specifiedRules, ...limits.validationRules]).map(
    (e) => e.message,
  );
}

const repeat = (text: string, times: number, separator = ' '): string =>
  Array.from({ length: times }, () => text).join(separator);

describe('QueryLimits', () => {
  it('lets ordinary queries, the repo clients and the standard introspection query through', () => {
    for (const source of [
      '{ models { id virtual aliases pricing { prompt completion } } }',
      'mutation Create($input: CompletionInput!) { createCompletion(input: $input) { completionId model } }',
      'subscription S($id: ID!) { completionStream(completionId: $id) { eventType content usage { totalTokens } } }',
      '{ models { ...M __typename } } fragment M on Model { id __typename }',
      getIntrospectionQuery(),
    ]) {
      expect(refusal(source)).toBeUndefined();
      expect(validationErrors(source)).toEqual([]);
    }
  });

  describe('max_document_size', () => {
    it('counts UTF-8 bytes, not characters, and names the limit with max and actual', () => {
      const limits = limitsWith({ max_document_size: 1_000 });
      const ascii = `{ models { id } } #${'x'.repeat(1_000 - 20)}`;
      expect(Buffer.byteLength(ascii)).toBe(999);
      expect(refusal(ascii, limits)).toBeUndefined();
      const accented = `{ models { id } } #${'é'.repeat(500)}`;
      expect(accented.length).toBeLessThan(1_000);
      expect(refusal(accented, limits)).toMatchObject({
        code: 'QUERY_TOO_LARGE',
        limit: 'max_document_size',
        max: 1_000,
        actual: Buffer.byteLength(accented),
        message: expect.stringContaining('streaming.protocols.graphql.max_document_size'),
      });
    });

    it('refuses the 20,000 __typename bomb before lexing it', () => {
      expect(refusal(`{ ${repeat('__typename', 20_000)} }`)).toMatchObject({
        code: 'QUERY_TOO_LARGE',
        limit: 'max_document_size',
        actual: 220_003,
      });
    });
  });

  describe('max_tokens', () => {
    it('counts every token and reports the exact count', () => {
      const source = `{ ${repeat('__typename', 5_000)} }`; // 5,002 tokens in 55 KB
      expect(refusal(source, limitsWith({ max_document_size: 100_000 }))).toMatchObject({
        code: 'QUERY_TOO_LARGE',
        limit: 'max_tokens',
        max: 5_000,
        actual: 5_002,
      });
      const roomy = limitsWith({
        max_document_size: 100_000,
        max_fields: 10_000,
        max_repeated_fields: 10_000,
        max_root_fields: 10_000,
      });
      expect(refusal(`{ ${repeat('__typename', 4_998)} }`, roomy)).toBeUndefined();
    });

    it('leaves a lexical error to the parser, which reports it with its location', () => {
      expect(refusal('{ models { id } } "unterminated')).toMatchObject({
        code: 'GRAPHQL_PARSE_FAILED',
        message: expect.stringContaining('Unterminated string'),
      });
      const located = defaults.prepare('{ models { id ');
      expect(located).toBeInstanceOf(GraphQLError);
      expect((located as GraphQLError).locations).toEqual([{ line: 1, column: 15 }]);
    });
  });

  describe('max_depth', () => {
    it('refuses deep nesting in one lexer pass, before the parser recurses into it', () => {
      const deepSelections = `{ ${repeat('models {', 1_500)} id ${repeat('}', 1_500)} }`;
      expect(refusal(deepSelections)).toMatchObject({
        code: 'QUERY_TOO_COMPLEX',
        limit: 'max_depth',
        max: 15,
        actual: 1_501,
      });
      // List values nest too: 2,500 levels would overflow graphql-js's parser (it recurses).
      const deepList = `{ completion(completionId: ${'['.repeat(2_400)}${']'.repeat(2_400)}) { status } }`;
      expect(refusal(deepList)).toMatchObject({ limit: 'max_depth', actual: 2_401 });
    });

    it('measures depth with fragments expanded', () => {
      const nested = `{ providers { circuits { model } latency { model } } }`;
      expect(refusal(nested, limitsWith({ max_depth: 2 }))).toMatchObject({ limit: 'max_depth' });
      expect(refusal(nested, limitsWith({ max_depth: 3 }))).toBeUndefined();
      const viaFragments =
        '{ providers { ...P } } fragment P on Provider { circuits { ...C } } fragment C on Circuit { model }';
      expect(refusal(viaFragments, limitsWith({ max_depth: 2 }))).toMatchObject({
        code: 'QUERY_TOO_COMPLEX',
        limit: 'max_depth',
        max: 2,
        actual: 3,
        message: expect.stringContaining('fragments expanded'),
      });
    });
  });

  describe('max_aliases', () => {
    it('counts aliases with fragments expanded (each spread counts)', () => {
      const fragment = `fragment A on Model { ${Array.from({ length: 10 }, (_, i) => `a${i}: id`).join(' ')} }`;
      expect(refusal(`{ models { ...A } } ${fragment}`)).toBeUndefined();
      expect(refusal(`{ models { ...A ... on Model { ...A ...A ...A } } } ${fragment}`)).toMatchObject({
        code: 'QUERY_TOO_COMPLEX',
        limit: 'max_aliases',
        max: 30,
        actual: 40,
      });
    });

    it('bounds aliased __schema answers (root fields first, then aliases)', () => {
      const aliased = (n: number) =>
        `{ ${Array.from({ length: n }, (_, i) => `s${i}: __schema { queryType { name } }`).join(' ')} }`;
      expect(refusal(aliased(20))).toBeUndefined();
      expect(refusal(aliased(21))).toMatchObject({ limit: 'max_root_fields', actual: 21 });
      const inside = `{ __schema { ${Array.from({ length: 31 }, (_, i) => `t${i}: types { name }`).join(' ')} } }`;
      expect(refusal(inside)).toMatchObject({ limit: 'max_aliases', max: 30, actual: 31 });
      // The 5,000 of them are 210 KB: refused for their size already.
      expect(refusal(aliased(5_000))).toMatchObject({ limit: 'max_document_size' });
    });
  });

  describe('max_fields', () => {
    it('counts fields and spreads with fragments expanded', () => {
      const limits = limitsWith({ max_fields: 9 });
      // models, id, virtual, the spread, then M's two fields: 6.
      const once = '{ models { id virtual ...M } } fragment M on Model { ownedBy description }';
      expect(refusal(once, limits)).toBeUndefined();
      const twice =
        '{ models { id ...M } a: models { id ...M } } fragment M on Model { ownedBy description }';
      expect(refusal(twice, limits)).toMatchObject({ limit: 'max_fields', max: 9, actual: 10 });
    });

    it('measures a fragment bomb (2^40 fields) in time linear in the document', () => {
      const levels = 40;
      const fragments = [
        'fragment F0 on Model { id virtual }',
        ...Array.from({ length: levels }, (_, i) => `fragment F${i + 1} on Model { ...F${i} ...F${i} }`),
      ].join(' ');
      const result = refusal(`{ models { ...F${levels} } } ${fragments}`);
      expect(result).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'max_fields', max: 1_000 });
      expect(result?.actual).toBeGreaterThan(2 ** levels);
    });

    it('measures fragments that no operation spreads too', () => {
      const smaller = limitsWith({ max_fields: 100, max_aliases: 5_000 });
      const unused60 = `fragment U on Query { ${Array.from({ length: 60 }, (_, i) => `f${i}: models { id }`).join(' ')} }`;
      expect(refusal(`{ models { id } } ${unused60}`, smaller)).toMatchObject({
        limit: 'max_fields',
        actual: 2 + 120,
      });
    });
  });

  describe('max_repeated_fields', () => {
    it('counts the fields asked again at the same place, selections and fragments merged', () => {
      const limits = limitsWith({ max_repeated_fields: 3 });
      const merged = `{ models { ...A ...B id } } fragment A on Model { id } fragment B on Model { id }`;
      expect(refusal(merged, limits)).toBeUndefined(); // 2 repeats of id
      // Repeated parents merge their children: aliases repeated 3 times under a repeated models.
      const nested = '{ models { aliases } models { aliases } models { aliases } }';
      expect(refusal(nested, limits)).toMatchObject({
        code: 'QUERY_TOO_COMPLEX',
        limit: 'max_repeated_fields',
        max: 3,
        actual: 4,
      });
      // Aliases are different places of the answer: nothing repeated.
      expect(refusal('{ a: models { id } b: models { id } c: models { id } d: models { id } }', limits)).toBe(
        undefined,
      );
    });

    it('refuses the repeated-field bomb whose overlap validation is quadratic', () => {
      const bomb = `{ __schema { types { ${repeat('fields(includeDeprecated: true) { name }', 400)} } } }`;
      expect(refusal(bomb, limitsWith({ max_document_size: 100_000 }))).toMatchObject({
        limit: 'max_repeated_fields',
        actual: 399 * 2,
      });
    });
  });

  it('max_root_fields: top-level fields of one operation, fragments expanded', () => {
    const limits = limitsWith({ max_root_fields: 3, max_repeated_fields: 10 });
    expect(refusal('{ models { id } providers { id } workflows { id } }', limits)).toBeUndefined();
    expect(
      refusal(
        '{ models { id } ...Q } fragment Q on Query { providers { id } workflows { id } a: models { id } }',
        limits,
      ),
    ).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'max_root_fields', max: 3, actual: 4 });
  });

  it('max_operations: operation definitions in one document', () => {
    const ops = (n: number) => Array.from({ length: n }, (_, i) => `query Q${i} { models { id } }`).join(' ');
    expect(refusal(ops(5))).toBeUndefined();
    expect(refusal(ops(6))).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      limit: 'max_operations',
      max: 5,
      actual: 6,
      message: expect.stringContaining('at most 5 are accepted (streaming.protocols.graphql.max_operations)'),
    });
  });

  it('refuses a fragment cycle itself (graphql-js validation would too), without looping', () => {
    const cycle = '{ models { ...A } } fragment A on Model { id ...B } fragment B on Model { ...A }';
    expect(refusal(cycle)).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      message: 'Cannot spread fragment "A" within itself.',
    });
    expect(validate(schema, parse(cycle)).map((e) => e.message)).toEqual([
      'Cannot spread fragment "A" within itself via "B".',
    ]);
    expect(refusal('{ models { ...S } } fragment S on Model { id ...S }')).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
    });
  });

  it('refuses a fragment name defined twice: graphql-js validates the last definition, which must not go unmeasured', () => {
    // The limits measured the first F only; graphql-js's rules (the quadratic overlap one included) read the
    // last, so 4,900 repeated fields in a second F took about 3 s of validation past every limit.
    const twice = `{ ...F } fragment F on Query { __typename } fragment F on Query { ${repeat('__typename', 60)} }`;
    expect(refusal(twice)).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      message: 'There can be only one fragment named "F".',
    });
    expect(validate(schema, parse(twice)).map((e) => e.message)).toContain(
      'There can be only one fragment named "F".',
    );
  });

  describe('introspection', () => {
    const schemaQuery = '{ __schema { queryType { name } } }';
    const typeQuery = '{ __type(name: "Model") { name } }';

    it('is on by default in development and off by default in production', () => {
      expect(limitsWith({}, 'development').introspection).toBe(true);
      expect(validationErrors(schemaQuery, limitsWith({}, 'development'))).toEqual([]);
      const production = limitsWith({}, 'production');
      expect(production.introspection).toBe(false);
      for (const query of [schemaQuery, typeQuery]) {
        const errors = validate(schema, document(query, production), [
          ...specifiedRules,
          ...production.validationRules,
        ]);
        expect(errors).toHaveLength(1);
        expect(errors[0]?.message).toContain('streaming.protocols.graphql.introspection');
        expect(errors[0]?.extensions).toMatchObject({
          code: 'GRAPHQL_VALIDATION_FAILED',
          setting: 'introspection',
        });
      }
      // __typename is not introspection of the schema.
      expect(validationErrors('{ __typename models { __typename id } }', production)).toEqual([]);
    });

    it('follows an explicit setting in either environment', () => {
      expect(validationErrors(schemaQuery, limitsWith({ introspection: true }, 'production'))).toEqual([]);
      expect(validationErrors(schemaQuery, limitsWith({ introspection: false }, 'development'))).toEqual([
        expect.stringContaining('Introspection is turned off'),
      ]);
    });
  });
});
