import { Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError, OperationTypeNode } from 'graphql';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { EventsModule } from '../events/events.module';
import { SystemModule } from '../system/system.module';
import { ProvidersModule } from '../providers/providers.module';
import { RoutingModule } from '../routing/routing.module';
import { StreamingModule } from '../streaming/streaming.module';
import { AuthService } from '../auth/auth.service';
import { AppConfig } from '../config/app-config';
import { FastifyApolloDriver, type FastifyApolloDriverConfig } from './fastify-apollo.driver';
import {
  authenticateBeforeParsing,
  graphqlHttpContext,
  graphqlRouteErrors,
  limitBeforeApollo,
} from './graphql-http-hooks';
import { QueryLimits } from './query-limits';
import { formatGraphqlError, isUnexpected } from './graphql-errors';
import { GRAPHQL_PATH, GraphqlWsServer } from './graphql-ws.server';
import { CatalogueResolver } from './resolvers/catalogue.resolver';
import { CompletionsResolver } from './resolvers/completions.resolver';
import { EventsResolver } from './resolvers/events.resolver';
import { WorkflowsResolver } from './resolvers/workflows.resolver';
import { WorkflowModule } from '../workflow/workflow.module';
import { SubscriptionGate } from './subscription-gate';

/** Subscriptions sent over HTTP get a clear 400 instead of an execution with nothing to stream. */
const subscriptionsOverWebSocketOnly: ApolloServerPlugin = {
  requestDidStart: () =>
    Promise.resolve({
      didResolveOperation: ({ operation }) => {
        if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) return Promise.resolve();
        throw new GraphQLError(
          `Subscriptions are served over WebSocket (graphql-transport-ws) at ${GRAPHQL_PATH}, not over HTTP.`,
          { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } },
        );
      },
    }),
};

/**
 * The GraphQL edge: Apollo (code-first) at POST/GET /graphql on Fastify, and graphql-ws on the same path.
 * Resolvers are thin: completions, catalogue and events come from the streaming, routing and events modules.
 */
@Module({
  imports: [
    StreamingModule,
    EventsModule,
    SystemModule,
    RoutingModule,
    ProvidersModule,
    WorkflowModule,
    GraphQLModule.forRootAsync<FastifyApolloDriverConfig>({
      driver: FastifyApolloDriver,
      inject: [ROOT_LOGGER, AppConfig, AuthService],
      useFactory: (logger: AppLogger, config: AppConfig, auth: AuthService): FastifyApolloDriverConfig => {
        const limits = new QueryLimits(config.streaming.protocols.graphql, config.server.environment);
        return {
          path: GRAPHQL_PATH,
          autoSchemaFile: true,
          sortSchema: true,
          playground: false,
          // Apollo's own switch stays on: QueryLimits refuses __schema/__type with a message naming our setting.
          introspection: true,
          validationRules: [...limits.validationRules],
          parseOptions: limits.parseOptions,
          // One operation per request (Apollo's default, stated): a JSON array body is refused with 400.
          allowBatchedHttpRequests: false,
          includeStacktraceInErrorResponses: false,
          // Token first (before the body is read), then the query limits, then Apollo parses and validates.
          onRequest: authenticateBeforeParsing(auth),
          preHandler: limitBeforeApollo(limits),
          errorHandler: graphqlRouteErrors(logger),
          context: graphqlHttpContext,
          plugins: [subscriptionsOverWebSocketOnly],
          formatError: (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
            const original = unwrapResolverError(error);
            if (!(error instanceof GraphQLError)) return formatted;
            if (isUnexpected(error)) logger.error({ err: original }, 'GraphQL operation failed');
            // Outside resolvers (no path), Apollo's codes stand: parse, validation, variable values.
            const apolloCode = formatted.extensions?.code;
            if (error.path === undefined && typeof apolloCode === 'string' && !isUnexpected(error)) {
              const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
              return { ...formatted, extensions };
            }
            return formatGraphqlError(error);
          },
        };
      },
    }),
  ],
  providers: [
    CompletionsResolver,
    CatalogueResolver,
    EventsResolver,
    WorkflowsResolver,
    SubscriptionGate,
    GraphqlWsServer,
  ],
})
export class GraphqlModule {}
