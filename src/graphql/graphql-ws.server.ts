import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { HttpAdapterHost } from '@nestjs/core';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { GraphQLError } from 'graphql';
import { CloseCode, type Context, handleProtocols, makeServer, type SubscribePayload } from 'graphql-ws';
import type { IncomingMessage, Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { type WebSocket, WebSocketServer } from 'ws';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { closeGracefully } from '../ws/close-gracefully';
import { UpgradeRouter } from '../ws/upgrade-router';
import { sendInBurst, whenWritable } from '../ws/socket-writes';
import { WsHeartbeat } from '../ws/ws-heartbeat';
import type { GraphqlContext } from './graphql-context';
import { formatGraphqlError, isUnexpected } from './graphql-errors';
import { PreparedOperations } from './prepared-operations';
import { QueryLimits } from './query-limits';
import { SubscriptionGate } from './subscription-gate';
import { AuthService } from '../auth/auth.service';
import { bearerToken } from '../auth/credentials';
import type { Principal } from '../contract/principal';
import { DomainError } from '../contract/error-code';

export const GRAPHQL_PATH = '/graphql';

/** At shutdown, how long ended subscriptions get to send their error before the sockets close. */
const END_GRACE_MS = 1_000;

interface Extra {
  request: IncomingMessage;
  socket: WebSocket;
  /** Set once onConnect accepted the connection's credentials. */
  principal?: Principal;
}

/**
 * GraphQL subscriptions (and queries, mutations) over WebSocket with the `graphql-transport-ws` protocol
 * (graphql-ws), on `/graphql` of the HTTP port, beside `/ws/stream` through the shared UpgradeRouter.
 *
 * It parses and validates each operation itself, after the same query limits as POST /graphql, so that a bad
 * or oversized query gets an `error` message with `extensions.code` (graphql-ws would close the whole
 * connection with 4500 on a syntax error) and the connection stays usable, and formats
 * every error as the HTTP endpoint does. Connections count against `websocket.max_connections` of their own.
 */
@Injectable()
export class GraphqlWsServer implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private wss?: WebSocketServer;
  private closing?: Promise<void>;
  private heartbeat?: WsHeartbeat;
  private router?: UpgradeRouter;
  private readonly log: AppLogger;
  private readonly limits: QueryLimits;

  constructor(
    private readonly config: AppConfig,
    private readonly schemaHost: GraphQLSchemaHost,
    private readonly httpHost: HttpAdapterHost,
    private readonly gate: SubscriptionGate,
    private readonly auth: AuthService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'GraphqlWs' });
    this.limits = new QueryLimits(config.streaming.protocols.graphql, config.server.environment);
  }

  /**
   * The sockets must close before the HTTP server does (it waits for every connection, upgraded ones too), and
   * after the drain (beforeApplicationShutdown): Fastify's preClose is that moment.
   */
  onModuleInit(): void {
    this.httpHost.httpAdapter.getInstance<FastifyInstance>().addHook('preClose', () => this.shutdown());
  }

  onApplicationBootstrap(): void {
    const schema = this.schemaHost.schema;
    const maxConnections = this.config.streaming.protocols.websocket.max_connections;
    const sendBudget = this.config.streaming.protocols.websocket.message_buffer_size;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.config.server.max_frame_size,
      handleProtocols: (protocols) => handleProtocols(protocols),
    });
    const operations = new PreparedOperations(schema, this.limits);
    const server = makeServer<Record<string, unknown>, Extra>({
      schema,
      // Credentials: connectionParams (`authorization: "Bearer <JWT>"`, or `token`), else the upgrade's own
      // (Authorization header, access_token query parameter, cookie). Refused: closed with 4403 and the reason.
      onConnect: async (ctx) => {
        try {
          const principal = await this.auth.authenticateAsync(
            paramsToken(ctx.connectionParams) ??
              this.auth.tokenOf(ctx.extra.request.headers, ctx.extra.request.url, true),
          );
          ctx.extra.principal = principal;
          this.closeAtExpiry(ctx.extra.socket, principal);
          return true;
        } catch (err) {
          const reason = err instanceof DomainError ? err.message : 'Forbidden';
          ctx.extra.socket.close(CloseCode.Forbidden, reason.slice(0, 120));
          return false;
        }
      },
      // The same query limits as POST /graphql (QueryLimits), then graphql-js validation.
      onSubscribe: (ctx: Context<Record<string, unknown>, Extra>, _id: string, payload: SubscribePayload) => {
        const document = operations.prepare(payload.query);
        if (!('kind' in document)) return document;
        return {
          schema,
          document,
          ...(payload.operationName ? { operationName: payload.operationName } : {}),
          ...(payload.variables ? { variableValues: payload.variables } : {}),
          contextValue: {
            req: { headers: ctx.extra.request.headers },
            connectionParams: ctx.connectionParams ?? {},
            ...(ctx.extra.principal ? { principal: ctx.extra.principal } : {}),
          } satisfies GraphqlContext,
        };
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors) return undefined;
        // Errors raised before execution (variable values) come in a result without `data`.
        const beforeExecution = !('data' in result);
        return { ...result, errors: result.errors.map((e) => this.format(e, beforeExecution)) };
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => this.format(e)),
    });
    const heartbeat = new WsHeartbeat(wss, this.config.streaming.protocols.websocket.ping_interval);
    wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      heartbeat.watch(socket);
      socket.once('error', (err) => {
        this.log.warn({ err: { message: err.message } }, 'graphql-ws socket error');
        socket.terminate();
      });
      const closed = server.opened(
        {
          protocol: socket.protocol,
          // graphql-ws waits on each send before it takes the next event: waiting for every frame's write to
          // complete would let one event out per turn of the event loop. A send resolves at once while the
          // peer's buffer is under `message_buffer_size`, and waits for it to drain past it (backpressure).
          send: (data) => {
            if (socket.readyState !== socket.OPEN) return undefined;
            sendInBurst(socket, data);
            return socket.bufferedAmount > sendBudget ? whenWritable(socket) : undefined;
          },
          close: (code, reason) => socket.close(code, reason),
          onMessage: (handle) =>
            socket.on('message', (data: Buffer, isBinary: boolean) => {
              if (isBinary) {
                socket.close(CloseCode.BadRequest, 'Binary frames are not graphql-transport-ws messages');
                return;
              }
              handle(data.toString()).catch((err: unknown) => {
                this.log.error({ err }, 'graphql-ws message handling failed');
                socket.close(CloseCode.InternalServerError, 'Internal server error');
              });
            }),
        },
        { request, socket },
      );
      socket.once('close', (code: number, reason: Buffer) => {
        closed(code, reason.toString()).catch((err: unknown) =>
          this.log.error({ err }, 'graphql-ws cleanup failed'),
        );
      });
    });
    this.heartbeat = heartbeat;
    this.wss = wss;
    const http = this.httpHost.httpAdapter.getHttpServer() as Server;
    this.router = UpgradeRouter.for(http);
    this.router.route(GRAPHQL_PATH, (request, socket, head) =>
      wss.handleUpgrade(request, socket, head, (ws) => {
        if (wss.clients.size > maxConnections) {
          ws.close(1013, 'too many connections');
          return;
        }
        wss.emit('connection', ws, request);
      }),
    );
  }

  onApplicationShutdown(): Promise<void> {
    return this.shutdown();
  }

  /** Live subscriptions end with a retryable error, then every socket gets a 1001 close. */
  private shutdown(): Promise<void> {
    this.closing ??= (async () => {
      this.router?.unroute(GRAPHQL_PATH);
      const wss = this.wss;
      if (!wss) return;
      this.heartbeat?.stop();
      // Let graphql-ws send those errors before the close frames.
      await Promise.race([this.gate.endAll(), sleep(END_GRACE_MS, undefined, { ref: false })]);
      await sleep(10);
      await closeGracefully(wss);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    })();
    return this.closing;
  }

  /** A connection's token expires or is revoked: it is closed (4403), as each operation after would be refused. */
  private closeAtExpiry(socket: WebSocket, principal: Principal): void {
    if (socket.readyState !== socket.OPEN) return; // closed while its token was being verified
    const cancel = this.auth.whenRevokedOrExpired(principal, (reason) =>
      socket.close(CloseCode.Forbidden, reason.message.slice(0, 120)),
    );
    socket.once('close', cancel);
  }

  private format(error: GraphQLError, beforeExecution = false): GraphQLError {
    if (isUnexpected(error)) this.log.error({ err: error.originalError }, 'GraphQL operation failed');
    const formatted = formatGraphqlError(error, beforeExecution);
    return new GraphQLError(formatted.message, {
      extensions: formatted.extensions ?? {},
      ...(error.nodes ? { nodes: error.nodes } : {}),
      ...(error.path ? { path: error.path } : {}),
    });
  }
}

/** A token in graphql-ws connection params: `authorization` ("Bearer <JWT>", any case of the key) or `token`. */
function paramsToken(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (!params) return undefined;
  for (const [key, value] of Object.entries(params)) {
    if (typeof value !== 'string') continue;
    const name = key.toLowerCase();
    if (name === 'authorization') return bearerToken(value) ?? value;
    if (name === 'token' || name === 'access_token') return value;
  }
  return undefined;
}
