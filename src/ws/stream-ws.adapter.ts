import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { Server } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { UpgradeRouter } from './upgrade-router';
import { closeGracefully } from './close-gracefully';

/**
 * Nest's WsAdapter, changed in two ways:
 * - Upgrades go through the server's UpgradeRouter: each gateway path is one route, so GraphQL's graphql-ws
 *   on `/graphql` shares this port, and an upgrade for a path nobody owns is refused with 404. Nest's own
 *   adapter destroys upgrades it does not own, which would kill the other protocol's.
 * - Messages are not dispatched through Nest's `{event, data}` envelope: gateways read raw frames themselves.
 * `maxPayload` caps frames (larger ones close the connection with 1009, by the ws library).
 */
export class StreamWsAdapter extends WsAdapter {
  private readonly routers = new Map<number, UpgradeRouter>();

  constructor(
    app: INestApplicationContext,
    private readonly maxPayload: number,
  ) {
    super(app, { messageParser: () => undefined });
  }

  override create(port: number, options: Record<string, unknown> & { path?: string } = {}): WebSocketServer {
    return super.create(port, { ...options, maxPayload: this.maxPayload }) as WebSocketServer;
  }

  protected override ensureHttpServerExists(port: number, httpServer?: Server): Server | undefined {
    if (this.httpServersRegistry.has(port) || !httpServer) return undefined;
    this.httpServersRegistry.set(port, httpServer);
    this.routers.set(port, UpgradeRouter.for(httpServer));
    return httpServer;
  }

  protected override addWsServerToRegistry<T extends Record<'path', string>>(
    wsServer: T,
    port: number,
    path: string,
  ): void {
    super.addWsServerToRegistry(wsServer, port, path);
    const server = wsServer as unknown as WebSocketServer;
    this.routers
      .get(port)
      ?.route(wsServer.path, (request, socket, head) =>
        server.handleUpgrade(request, socket, head, (ws: WebSocket) =>
          server.emit('connection', ws, request),
        ),
      );
  }

  /** Shutdown (after the streams have drained): see closeGracefully. */
  override async close(server: WebSocketServer): Promise<void> {
    await closeGracefully(server);
    await super.close(server);
  }
}
