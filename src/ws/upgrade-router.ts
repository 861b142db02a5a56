import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { RequestErrorCode } from '../contract/error-code';
import { isOverConnectionCap, rawErrorResponse, TOO_MANY_CONNECTIONS_MESSAGE } from '../http/server-limits';

export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

const routers = new WeakMap<Server, UpgradeRouter>();

/**
 * The one `upgrade` listener of an HTTP server: WebSocket upgrades are handed to the edge that owns their path
 * (`/ws/stream`, `/graphql`), and refused with 404 when none does, so that two WebSocket protocols share one
 * port and an upgrade to an unknown path never hangs.
 */
export class UpgradeRouter {
  private readonly routes = new Map<string, UpgradeHandler>();
  /** Refuses an upgrade (with 403) whose Origin the CORS allowlist does not allow. */
  allowOrigin: (request: IncomingMessage) => boolean = () => true;

  private constructor(server: Server) {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.dispatch(request, socket, head),
    );
  }

  /** The router of `server`, attached on first use. */
  static for(server: Server): UpgradeRouter {
    let router = routers.get(server);
    if (!router) {
      router = new UpgradeRouter(server);
      routers.set(server, router);
    }
    return router;
  }

  route(path: string, handler: UpgradeHandler): void {
    if (this.routes.has(path)) throw new Error(`WebSocket path ${path} is already taken`);
    this.routes.set(path, handler);
  }

  unroute(path: string): void {
    this.routes.delete(path);
  }

  private dispatch(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Past the upgrade the HTTP server no longer watches the socket: a reset must not become an uncaught error.
    socket.on('error', () => socket.destroy());
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const handler = this.routes.get(path);
    if (isOverConnectionCap(socket)) {
      socket.end(
        rawErrorResponse(429, 'Too Many Requests', 'too_many_connections', TOO_MANY_CONNECTIONS_MESSAGE),
      );
      return;
    }
    if (handler && !this.allowOrigin(request)) {
      socket.end(
        rawErrorResponse(403, 'Forbidden', 'forbidden', 'This Origin is not allowed (server.cors.origins).'),
      );
      return;
    }
    if (handler) {
      handler(request, socket, head);
      return;
    }
    socket.end(
      rawErrorResponse(
        404,
        'Not Found',
        RequestErrorCode.NotFound,
        `No WebSocket endpoint at ${path.slice(0, 200)}; they are ${[...this.routes.keys()].join(', ') || 'off'}.`,
      ),
    );
  }
}
