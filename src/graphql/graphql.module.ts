import type { ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError, OperationTypeNode } from 'graphql';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { EventsModule } from '../events/events.module';
import { ProvidersModule } from '../providers/providers.module';
import { RoutingModule } from '../routing/routing.module';
import { StreamingModule } from '../streaming/streaming.module';
import { FastifyApolloDriver } from './fastify-apollo.driver';
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
    RoutingModule,
    ProvidersModule,
    WorkflowModule,
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: FastifyApolloDriver,
      inject: [ROOT_LOGGER],
      useFactory: (logger: AppLogger): ApolloDriverConfig => ({
        path: GRAPHQL_PATH,
        autoSchemaFile: true,
        sortSchema: true,
        playground: false,
        introspection: true,
        includeStacktraceInErrorResponses: false,
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
      }),
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
