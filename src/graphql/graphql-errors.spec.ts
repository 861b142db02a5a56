import { buildSchema, execute, GraphQLError, parse, validate, type ExecutionResult } from 'graphql';
import { CompletionError, DomainError, RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import {
  camelPath,
  formatGraphqlError,
  graphqlError,
  GraphqlErrorCode,
  isUnexpected,
} from './graphql-errors';

const schema = buildSchema(`
  type Query {
    hello: String
    add(n: Int!): Int
  }
`);

/** Runs `{ hello }` with a resolver that throws `error`: the GraphQLError graphql-js makes of it. */
function thrownBy(error: unknown): GraphQLError {
  const result = execute({
    schema,
    document: parse('query Q {\n  hello\n}'),
    rootValue: {
      hello: () => {
        throw error;
      },
    },
  }) as ExecutionResult;
  expect(result.errors).toHaveLength(1);
  return result.errors![0]!;
}

const helloLocated = { locations: [{ line: 2, column: 3 }], path: ['hello'] };

describe('formatGraphqlError', () => {
  it('maps an invalid request to BAD_USER_INPUT with the field at fault in camelCase', () => {
    const error = thrownBy(
      new CompletionError(RequestErrorCode.InvalidRequest, 'tool_call_id is required.', {
        param: 'messages[0].tool_call_id',
      }),
    );
    expect(error.originalError).toBeInstanceOf(CompletionError);
    expect(formatGraphqlError(error)).toEqual({
      message: 'tool_call_id is required.',
      extensions: { code: GraphqlErrorCode.BadUserInput, param: 'messages[0].toolCallId', retryable: false },
      ...helloLocated,
    });
  });

  it('maps an unsupported value to BAD_USER_INPUT too', () => {
    const formatted = formatGraphqlError(
      thrownBy(new DomainError(RequestErrorCode.UnsupportedValue, 'n must be 1.', { param: 'n' })),
    );
    expect(formatted.extensions).toEqual({ code: 'BAD_USER_INPUT', param: 'n', retryable: false });
  });

  it('upper-cases other domain codes and omits an absent param', () => {
    const formatted = formatGraphqlError(
      thrownBy(new DomainError(RequestErrorCode.NotFound, 'No such completion.')),
    );
    expect(formatted).toEqual({
      message: 'No such completion.',
      extensions: { code: 'NOT_FOUND', retryable: false },
      ...helloLocated,
    });
  });

  it('carries retryable and retryAfterMs', () => {
    const formatted = formatGraphqlError(
      thrownBy(
        new CompletionError(StreamErrorCode.ServiceUnavailable, 'The node is draining.', {
          retryable: true,
          retryAfterMs: 1_000,
        }),
      ),
    );
    expect(formatted.extensions).toEqual({
      code: 'SERVICE_UNAVAILABLE',
      retryable: true,
      retryAfterMs: 1_000,
    });
  });

  it('carries the dead letter of a dead-lettered failure', () => {
    const formatted = formatGraphqlError(
      thrownBy(
        new CompletionError(StreamErrorCode.ProviderError, 'All failed.', {
          deadLetterId: 'dl-0123456789abcdef0123456789abcdef',
        }),
      ),
    );
    expect(formatted.extensions).toEqual({
      code: 'PROVIDER_ERROR',
      retryable: false,
      deadLetterId: 'dl-0123456789abcdef0123456789abcdef',
    });
  });

  it('hides an unexpected error behind INTERNAL_SERVER_ERROR', () => {
    const error = thrownBy(new TypeError('connect redis://admin:hunter2@db failed'));
    const formatted = formatGraphqlError(error);
    expect(formatted).toEqual({
      message: 'Internal server error.',
      extensions: { code: GraphqlErrorCode.Internal },
      ...helloLocated,
    });
    expect(JSON.stringify(formatted)).not.toContain('hunter2');
  });

  it('hides an unexpected error that already carries INTERNAL_SERVER_ERROR (as Apollo tags them)', () => {
    const error = new GraphQLError('secret hunter2', {
      originalError: new Error('secret hunter2'),
      extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['Error: secret hunter2', '    at x'] },
    });
    const formatted = formatGraphqlError(error);
    expect(formatted).toEqual({
      message: 'Internal server error.',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(JSON.stringify(formatted)).not.toContain('hunter2');
  });

  it('classifies a syntax error as GRAPHQL_PARSE_FAILED', () => {
    let error: GraphQLError | undefined;
    try {
      parse('{ hello');
    } catch (err) {
      error = err as GraphQLError;
    }
    expect(error).toBeInstanceOf(GraphQLError);
    const formatted = formatGraphqlError(error!);
    expect(formatted.extensions).toEqual({ code: GraphqlErrorCode.ParseFailed });
    expect(formatted.message).toMatch(/^Syntax Error/);
    expect(formatted.locations).toEqual([{ line: 1, column: 8 }]);
  });

  it('classifies a validation error as GRAPHQL_VALIDATION_FAILED', () => {
    const errors = validate(schema, parse('{\n  nope\n}'));
    expect(errors).toHaveLength(1);
    expect(formatGraphqlError(errors[0]!)).toEqual({
      message: 'Cannot query field "nope" on type "Query".',
      extensions: { code: GraphqlErrorCode.ValidationFailed },
      locations: [{ line: 2, column: 3 }],
    });
  });

  it('classifies a missing required variable, refused before execution, as BAD_USER_INPUT', () => {
    const result = execute({
      schema,
      document: parse('query Q($n: Int!) { add(n: $n) }'),
      variableValues: {},
    }) as ExecutionResult;
    const formatted = formatGraphqlError(result.errors![0]!, true);
    expect(formatted.message).toBe('Variable "$n" of required type "Int!" was not provided.');
    expect(formatted.extensions).toEqual({ code: GraphqlErrorCode.BadUserInput });
  });

  it('classifies a variable of the wrong type, refused before execution, as BAD_USER_INPUT', () => {
    const result = execute({
      schema,
      document: parse('query Q($n: Int!) { add(n: $n) }'),
      variableValues: { n: 'seven' },
    }) as ExecutionResult;
    expect(result).not.toHaveProperty('data');
    const error = result.errors![0]!;
    expect(error.message).toMatch(/^Variable "\$n" got invalid value "seven"; Int cannot represent/);
    const formatted = formatGraphqlError(error, true);
    expect(formatted.extensions).toEqual({ code: GraphqlErrorCode.BadUserInput });
    expect(formatted.locations).toEqual([{ line: 1, column: 9 }]);
  });

  // graphql-js keeps the scalar's own error as originalError; the outer message names the variable.
  it('names the refused variable in the message of a variable of the wrong type', () => {
    const result = execute({
      schema,
      document: parse('query Q($n: Int!) { add(n: $n) }'),
      variableValues: { n: 'seven' },
    }) as ExecutionResult;
    expect(formatGraphqlError(result.errors![0]!, true).message).toMatch(/^Variable "\$n" got invalid value/);
  });

  // Validation errors about variables also start with 'Variable "$': they are not variable values refused.
  it('classifies a validation error about a variable as GRAPHQL_VALIDATION_FAILED', () => {
    const errors = validate(schema, parse('query Q($n: Int) { hello }'));
    expect(errors[0]!.message).toBe('Variable "$n" is never used in operation "Q".');
    expect(formatGraphqlError(errors[0]!).extensions).toEqual({ code: GraphqlErrorCode.ValidationFailed });
  });

  it('keeps a code already set, dropping stacktrace and exception', () => {
    const error = new GraphQLError('Too many subscriptions on this connection.', {
      extensions: {
        code: GraphqlErrorCode.TooManySubscriptions,
        limit: 5,
        stacktrace: ['GraphQLError: Too many', '    at gate'],
        exception: { stacktrace: ['x'] },
      },
    });
    expect(formatGraphqlError(error)).toEqual({
      message: 'Too many subscriptions on this connection.',
      extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit: 5 },
    });
  });

  it('unwraps a GraphQLError thrown by a resolver, keeping its code', () => {
    const formatted = formatGraphqlError(thrownBy(graphqlError(GraphqlErrorCode.SlowConsumer, 'Too slow.')));
    expect(formatted.message).toBe('Too slow.');
    expect(formatted.extensions).toEqual({ code: 'SLOW_CONSUMER' });
    expect(formatted.extensions).not.toHaveProperty('stacktrace');
  });

  it('keeps the locations and path of a GraphQLError thrown by a resolver', () => {
    const formatted = formatGraphqlError(thrownBy(graphqlError(GraphqlErrorCode.SlowConsumer, 'Too slow.')));
    expect(formatted).toEqual({
      message: 'Too slow.',
      extensions: { code: 'SLOW_CONSUMER' },
      ...helloLocated,
    });
  });
});

describe('isUnexpected', () => {
  it('is true only for an original error that is neither a DomainError nor a GraphQLError', () => {
    expect(isUnexpected(thrownBy(new TypeError('x')))).toBe(true);
    expect(isUnexpected(thrownBy(new DomainError(RequestErrorCode.NotFound, 'x')))).toBe(false);
    expect(isUnexpected(thrownBy(new CompletionError(StreamErrorCode.Internal, 'x')))).toBe(false);
    expect(isUnexpected(thrownBy(graphqlError(GraphqlErrorCode.SubscriptionTimeout, 'x')))).toBe(false);
    expect(isUnexpected(new GraphQLError('Syntax Error: x'))).toBe(false);
  });
});

describe('camelPath', () => {
  it('camel-cases every snake_case segment and keeps indexes', () => {
    expect(camelPath('messages[0].tool_call_id')).toBe('messages[0].toolCallId');
    expect(camelPath('max_tokens')).toBe('maxTokens');
    expect(camelPath('tools[2].function.name')).toBe('tools[2].function.name');
  });
});
