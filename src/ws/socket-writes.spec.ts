import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { waitFor } from '../common/testing/wait-for';
import { sendInBurst } from './socket-writes';

/** sendInBurst on a real ws pair: the messages of one tick leave in one write of the socket, in order. */
describe('sendInBurst', () => {
  let wss: WebSocketServer;
  let server: WebSocket;
  let client: WebSocket;

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    server = await accepted;
    await new Promise((resolve) => client.once('open', resolve));
  });
  afterAll(async () => {
    client.close();
    await new Promise((resolve) => wss.close(resolve));
  });

  it('writes a tick of messages once, and every message arrives in order', async () => {
    const raw = (server as unknown as { _socket: Duplex })._socket;
    const writes: number[] = [];
    const writev = (raw as unknown as { _writev: (...args: unknown[]) => void })._writev.bind(raw);
    (raw as unknown as { _writev: (chunks: unknown[], cb: () => void) => void })._writev = (chunks, cb) => {
      writes.push(chunks.length);
      writev(chunks, cb);
    };
    const received: string[] = [];
    client.on('message', (data: Buffer) => received.push(data.toString()));
    for (let i = 0; i < 50; i++) sendInBurst(server, `m${i}`);
    await waitFor('every message', () => received.length === 50);
    expect(received).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    // Corked: the 50 frames (header and payload each) went out in one writev.
    expect(writes).toEqual([100]);
    // Uncorked after the tick: a later message is written on its own, at once.
    sendInBurst(server, 'later');
    await waitFor('the later one', () => received.length === 51);
    expect(received.at(-1)).toBe('later');
  });
});
