import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { DomainError, RequestErrorCode } from '../contract/error-code';

/** GraphQL `extensions.code` values of our own (beside Apollo's GRAPHQL_PARSE_FAILED, BAD_USER_INPUT...). */
export enum GraphqlErrorCode {
  ParseFailed = 'GRAPHQL_PARSE_FAILED',
  ValidationFailed = 'GRAPHQL_VALIDATION_FAILED',
  BadUserInput = 'BAD_USER_INPUT',
  TooManySubscriptions = 'TOO_MANY_SUBSCRIPTIONS',
  SubscriptionTimeout = 'SUBSCRIPTION_TIMEOUT',
  SlowConsumer = 'SLOW_CONSUMER',
  /** The document is larger than max_document_size or max_tokens allow (query-limits.ts). */
  QueryTooLarge = 'QUERY_TOO_LARGE',
  /** The document is deeper, wider or has more operations than a limit allows (query-limits.ts). */
  QueryTooComplex = 'QUERY_TOO_COMPLEX',
  Internal = 'INTERNAL_SERVER_ERROR',
}

export function graphqlError(
  code: string,
  message: string,
  extensions: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

/** A domain error's code as a GraphQL code: request validation is BAD_USER_INPUT, the rest upper-cased. */
export function codeOf(error: DomainError): string {
  if (error.code === RequestErrorCode.InvalidRequest || error.code === RequestErrorCode.UnsupportedValue) {
    return GraphqlErrorCode.BadUserInput;
  }
  return error.code.toUpperCase();
}

/** A domain error as a GraphQL error: code, the field at fault, and whether a retry may work. */
export function fromDomainError(error: DomainError): GraphQLError {
  return graphqlError(codeOf(error), error.message, {
    ...(error.param ? { param: camelPath(error.param) } : {}),
    retryable: error.retryable,
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    ...(error.deadLetterId === undefined ? {} : { deadLetterId: error.deadLetterId }),
  });
}

/**
 * The shape every GraphQL error leaves in, over HTTP and graphql-ws alike: a readable message and
 * `extensions.code`, never a stack trace or an internal message. `requestError`: it was raised before
 * execution began (variable values), which makes an uncoded graphql-js error BAD_USER_INPUT.
 */
export function formatGraphqlError(error: GraphQLError, requestError = false): GraphQLFormattedError {
  const original = error.originalError;
  if (original instanceof DomainError) return withLocation(fromDomainError(original), error);
  if (original instanceof GraphQLError && original !== error) {
    // The outer message is the more telling one (graphql-js names the refused variable there).
    return { ...formatGraphqlError(original, requestError), message: error.message, ...located(error) };
  }
  const code = error.extensions?.code;
  if (typeof code === 'string') {
    if (original && !(original instanceof GraphQLError) && code === String(GraphqlErrorCode.Internal)) {
      return { message: 'Internal server error.', extensions: { code }, ...located(error) };
    }
    const { stacktrace: _stack, exception: _exception, ...extensions } = error.extensions;
    return { message: error.message, extensions, ...located(error) };
  }
  if (original)
    return {
      message: 'Internal server error.',
      extensions: { code: GraphqlErrorCode.Internal },
      ...located(error),
    };
  // graphql-js's own errors (no original error): syntax, validation, and variable values refused before
  // execution (`requestError`: the result has no `data`).
  const kind = error.message.startsWith('Syntax Error')
    ? GraphqlErrorCode.ParseFailed
    : requestError
      ? GraphqlErrorCode.BadUserInput
      : GraphqlErrorCode.ValidationFailed;
  return { message: error.message, extensions: { code: kind }, ...located(error) };
}

/** Whether an error is one we could not foresee (logged as such). */
export function isUnexpected(error: GraphQLError): boolean {
  const original = error.originalError;
  return original !== undefined && !(original instanceof DomainError) && !(original instanceof GraphQLError);
}

function withLocation(formatted: GraphQLError, source: GraphQLError): GraphQLFormattedError {
  const json = formatted.toJSON();
  return { ...json, ...located(source) };
}

function located(error: GraphQLError): Pick<GraphQLFormattedError, 'locations' | 'path'> {
  return {
    ...(error.locations ? { locations: error.locations } : {}),
    ...(error.path ? { path: error.path } : {}),
  };
}

/** `messages[0].tool_call_id` -> `messages[0].toolCallId`, as the GraphQL input names it. */
export function camelPath(param: string): string {
  return param.replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}
