import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';

/** How long a client gets to answer the server's close frame at shutdown. */
const CLOSE_GRACE_MS = 1_000;

interface PathServer {
  path: string;
  server: WebSocketServer;
}

/**
 * Nest's WsAdapter, changed in two ways:
 * - Upgrades for paths no gateway owns are left to the server's other `upgrade` listeners (GraphQL's
 *   graphql-ws on `/graphql` shares this port); only when nobody else listens is such an upgrade refused with
 *   404. Nest's own adapter destroys them.
 * - Messages are not dispatched through Nest's `{event, data}` envelope: gateways read raw frames themselves.
 * `maxPayload` caps frames (larger ones close the connection with 1009, by the ws library).
 */
export class StreamWsAdapter extends WsAdapter {
  private readonly owned: PathServer[] = [];
  private listening = false;

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
    if (!this.listening) {
      this.listening = true;
      httpServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
        this.upgrade(httpServer, request, socket, head),
      );
    }
    return httpServer;
  }

  protected override addWsServerToRegistry<T extends Record<'path', string>>(
    wsServer: T,
    port: number,
    path: string,
  ): void {
    super.addWsServerToRegistry(wsServer, port, path);
    this.owned.push({ path: wsServer.path, server: wsServer as unknown as WebSocketServer });
  }

  /**
   * Shutdown (after the streams have drained): each client gets a 1001 close frame and a moment to answer,
   * so the last frames of a drained stream are not cut off; those that do not answer are then terminated.
   */
  override async close(server: WebSocketServer): Promise<void> {
    const clients = [...server.clients];
    await Promise.all(
      clients.map(
        (client) =>
          new Promise<void>((resolve) => {
            if (client.readyState === client.CLOSED) return resolve();
            const timer = setTimeout(() => {
              client.terminate();
              resolve();
            }, CLOSE_GRACE_MS);
            client.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            client.close(1001, 'server shutting down');
          }),
      ),
    );
    await super.close(server);
  }

  private upgrade(httpServer: Server, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Past the upgrade the HTTP server no longer watches the socket: a reset must not become an uncaught error.
    socket.on('error', () => socket.destroy());
    const pathname = (request.url ?? '/').split('?')[0];
    const target = this.owned.find((owned) => owned.path === pathname);
    if (target) {
      target.server.handleUpgrade(request, socket, head, (ws: WebSocket) => {
        target.server.emit('connection', ws, request);
      });
      return;
    }
    // Another listener (graphql-ws) may own this path; refuse only when there is none.
    if (httpServer.listenerCount('upgrade') <= 1) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  }
}
