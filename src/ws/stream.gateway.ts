import type { OnModuleDestroy } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { AppConfig } from '../config/app-config';
import { StreamMultiplexer } from '../streaming/multiplexer/stream-multiplexer.service';
import { WsHeartbeat } from './ws-heartbeat';

/**
 * `/ws/stream`: the multiplexed WebSocket edge. It hands sockets and frames to the StreamMultiplexer and keeps
 * them alive with pings; everything else (protocol, registries, backpressure) is the multiplexer's.
 */
@WebSocketGateway({ path: '/ws/stream' })
export class StreamGateway
  implements OnGatewayInit<WebSocketServer>, OnGatewayConnection<WebSocket>, OnModuleDestroy
{
  private heartbeat?: WsHeartbeat;

  constructor(
    private readonly mux: StreamMultiplexer,
    private readonly config: AppConfig,
  ) {}

  afterInit(server: WebSocketServer): void {
    this.heartbeat = new WsHeartbeat(server, this.config.streaming.protocols.websocket.ping_interval);
  }

  handleConnection(socket: WebSocket): void {
    const id = this.mux.open({
      send: (text) => socket.send(text),
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
      close: (code, reason) => socket.close(code, reason),
    });
    if (id === undefined) return;
    this.heartbeat?.watch(socket);
    socket.on('message', (data: RawData, binary: boolean) => this.mux.receive(id, toText(data), binary));
    socket.on('close', () => this.mux.close(id));
  }

  onModuleDestroy(): void {
    this.heartbeat?.stop();
  }
}

function toText(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
