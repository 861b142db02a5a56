import type { OnApplicationShutdown } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { AppConfig } from '../config/app-config';
import { StreamMultiplexer } from './multiplexer/stream-multiplexer.service';
import { CLOSE_TRY_AGAIN_LATER } from './mux-messages';
import { WsHeartbeat } from './ws-heartbeat';
import { sendInBurst, whenWritable } from './socket-writes';
import { AuthService } from '../auth/auth.service';
import { authenticateSocket } from './ws-auth';

/**
 * `/ws/stream`: the multiplexed WebSocket edge. It hands sockets and frames to the StreamMultiplexer and keeps
 * them alive with pings; everything else (protocol, registries, backpressure) is the multiplexer's.
 */
@WebSocketGateway({ path: '/ws/stream' })
export class StreamGateway
  implements OnGatewayInit<WebSocketServer>, OnGatewayConnection<WebSocket>, OnApplicationShutdown
{
  private heartbeat?: WsHeartbeat;
  /** Sockets accepted and not yet authenticated. */
  private pending = 0;

  constructor(
    private readonly mux: StreamMultiplexer,
    private readonly config: AppConfig,
    private readonly auth: AuthService,
  ) {}

  afterInit(server: WebSocketServer): void {
    this.heartbeat = new WsHeartbeat(server, this.config.streaming.protocols.websocket.ping_interval);
  }

  /** Authenticates the connection (see authenticateSocket), then hands it to the multiplexer. */
  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    // Sockets still authenticating are capped too (the multiplexer counts the authenticated ones).
    if (this.pending >= this.config.streaming.protocols.websocket.max_connections) {
      socket.close(CLOSE_TRY_AGAIN_LATER, 'too many connections');
      return;
    }
    this.pending++;
    let counted = true;
    const settle = () => {
      if (counted) this.pending--;
      counted = false;
    };
    socket.once('close', settle);
    this.heartbeat?.watch(socket);
    const timeoutMs = this.config.auth.ws_auth_timeout;
    authenticateSocket(socket, request, this.auth, { timeoutMs }, (session, announce) => {
      settle();
      const id = this.mux.open(
        {
          send: (text) => sendInBurst(socket, text),
          get bufferedAmount() {
            return socket.bufferedAmount;
          },
          close: (code, reason) => socket.close(code, reason),
          whenWritable: () => whenWritable(socket),
        },
        session,
      );
      if (id === undefined) return;
      if (announce) this.mux.announce(id);
      socket.on('message', (data: RawData, binary: boolean) => this.mux.receive(id, toText(data), binary));
      socket.on('close', () => this.mux.close(id));
    });
  }

  /** After the drain (dead peers are still reaped while streams finish). */
  onApplicationShutdown(): void {
    this.heartbeat?.stop();
  }
}

function toText(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
