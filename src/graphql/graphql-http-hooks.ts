import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError } from 'graphql';
import { AuthError } from '../auth/auth.error';
import type { AuthService } from '../auth/auth.service';
import type { AppLogger } from '../common/logging/logger';
import { httpMappingFor } from '../common/errors/openai-error';
import type { GraphqlContext } from './graphql-context';
import { formatGraphqlError, fromDomainError, GraphqlErrorCode, graphqlError } from './graphql-errors';
import type { QueryLimits } from './query-limits';

/**
 * Hooks of the POST/GET /graphql route that run before Apollo sees the request.
 *
 * `authenticateBeforeParsing` (onRequest, before the body is even read): without a valid token
 * (Authorization: Bearer) nothing is parsed, validated or run; the answer is a GraphQL error body with
 * extensions.code UNAUTHORIZED and HTTP 401, as the AuthGuard answered inside a resolver before. The principal
 * goes to the resolvers' context; the AuthGuard still checks permissions and counts the operation against the
 * rate limit. CORS preflights (OPTIONS) pass.
 */
export function authenticateBeforeParsing(auth: AuthService) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (auth.open || request.method === 'OPTIONS') return;
    try {
      // Async: a token signed with a key jwks_url has not been fetched with yet waits for the refetch.
      request.principal = await auth.authenticateAsync(auth.tokenOf(request.headers, request.url, false));
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      await sendErrors(reply, httpMappingFor(err.code).status, fromDomainError(err));
    }
  };
}

/**
 * `limitBeforeApollo` (preHandler): the query of a POST body or a GET query string goes through QueryLimits,
 * as graphql-ws operations do, before Apollo parses or validates it: a refusal (a limit, a syntax error, a
 * fragment cycle) is HTTP 400 with one GraphQL error. Anything else about the request (no query, a batch, a
 * non-string query) is left to Apollo, which refuses it in its own words.
 */
export function limitBeforeApollo(limits: QueryLimits) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const source = sourceOf(request);
    if (source === undefined) return;
    const checked = limits.prepare(source);
    if (checked instanceof GraphQLError) await sendErrors(reply, 400, checked);
  };
}

/** GraphQL codes of the request errors Fastify raises before Apollo runs (body parsing, size, media type). */
const REQUEST_ERRORS: Record<number, { code: string; message?: string }> = {
  413: { code: 'REQUEST_TOO_LARGE' },
  415: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Send GraphQL requests as JSON (Content-Type: application/json), or as GET with a query string.',
  },
};

/**
 * The route's error handler: what fails before Apollo answers (a body that is not JSON, too large, of another
 * media type) is a GraphQL error body too, not the REST edge's OpenAI error JSON; anything unforeseen is a
 * logged 500 with a generic message.
 */
export function graphqlRouteErrors(logger: AppLogger) {
  return (error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void => {
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const known = REQUEST_ERRORS[status];
      errorReply(reply, status, graphqlError(known?.code ?? 'BAD_REQUEST', known?.message ?? error.message));
      return;
    }
    logger.error({ err: error }, 'GraphQL HTTP request failed');
    errorReply(reply, 500, graphqlError(GraphqlErrorCode.Internal, 'Internal server error.'));
  };
}

/** Apollo's context function: the principal the hook authenticated (none when auth is off). */
export function graphqlHttpContext(request: FastifyRequest): Pick<GraphqlContext, 'principal'> {
  return request.principal ? { principal: request.principal } : {};
}

function sourceOf(request: FastifyRequest): string | undefined {
  if (request.method === 'GET') {
    // The query string as Apollo reads it (URLSearchParams over the URL's search, a repeated query refused),
    // not request.query: Fastify's parser keeps a value it cannot decode as it was sent, so the two could
    // see different documents.
    const queries = new URLSearchParams(new URL(request.url, 'http://localhost/').search).getAll('query');
    return queries.length === 1 ? queries[0] : undefined;
  }
  const body: unknown = request.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const query = (body as Record<string, unknown>).query;
  return typeof query === 'string' ? query : undefined;
}

async function sendErrors(reply: FastifyReply, status: number, error: GraphQLError): Promise<void> {
  await errorReply(reply, status, error);
}

function errorReply(reply: FastifyReply, status: number, error: GraphQLError): FastifyReply {
  return reply
    .status(status)
    .header('content-type', 'application/json; charset=utf-8')
    .send({ errors: [formatGraphqlError(error)] });
}
