import { ApolloServer, type ApolloServerOptions, type BaseContext } from '@apollo/server';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import { Injectable } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestAsyncHookHandler,
  preHandlerAsyncHookHandler,
} from 'fastify';

/** Nest's Apollo options, plus hooks of the /graphql route that run before Apollo reads the request. */
export interface FastifyApolloDriverConfig extends ApolloDriverConfig {
  /** Before the body is read (authentication). */
  onRequest?: onRequestAsyncHookHandler;
  /** After the body is parsed as JSON, before Apollo handles it (query limits). */
  preHandler?: preHandlerAsyncHookHandler;
  /** Errors of the route outside Apollo (body parsing, media type, the hooks). */
  errorHandler?: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void;
}

/**
 * Nest's Apollo driver on Fastify, minus Apollo's "drain" plugin: that plugin closes the whole Fastify server
 * when the GraphQL module is destroyed, which Nest does before the application's shutdown hooks, so it would
 * stop REST and SSE before the drain (readiness 503, then in-flight streams finish) that DrainService runs.
 * Apollo itself is left running until the process ends: it holds no sockets or timers of its own here.
 */
@Injectable()
export class FastifyApolloDriver extends ApolloDriver {
  constructor(modulesContainer: ModulesContainer) {
    super(modulesContainer);
  }

  protected override async registerFastify(config: FastifyApolloDriverConfig): Promise<void> {
    const { onRequest, preHandler, errorHandler, ...options } = config;
    const app = this.httpAdapterHost.httpAdapter.getInstance<FastifyInstance>();
    const server = new ApolloServer<BaseContext>(options as ApolloServerOptions<BaseContext>);
    await server.start();
    app.route({
      url: options.path ?? '/graphql',
      method: ['GET', 'POST', 'OPTIONS'],
      // The server's own refusals (CORS, connection cap, nesting) answer GraphQL error bodies here.
      config: { graphqlErrors: true },
      ...(onRequest ? { onRequest } : {}),
      ...(preHandler ? { preHandler } : {}),
      ...(errorHandler ? { errorHandler } : {}),
      // mergeDefaultOptions always sets a context function ({ req }).
      handler: fastifyApolloHandler(server, { context: options.context as never }),
    });
    this.apolloServer = server;
  }

  override stop(): Promise<void> {
    return Promise.resolve();
  }
}
