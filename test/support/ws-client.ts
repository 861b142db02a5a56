import WebSocket, { type ClientOptions } from 'ws';
import { waitFor } from './wait';

export type Message = Record<string, unknown> & { type: string };

/** A `ws` client for `/ws/stream` that keeps every message it received, in order. */
export class WsTestClient {
  readonly messages: Message[] = [];
  closeCode?: number;
  readonly closed: Promise<number>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData) =>
      this.messages.push(JSON.parse(rawText(data)) as Message),
    );
    this.closed = new Promise((resolve) =>
      socket.once('close', (code: number) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
  }

  static async connect(
    baseUrl: string,
    options: ClientOptions = {},
    path = '/ws/stream',
  ): Promise<WsTestClient> {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}`, options);
    const client = new WsTestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /**
   * Messages about one completion: by the client's `id` (the socket's own completions, and refusals of them)
   * or by the server's `completionId` (followed ones, or any).
   */
  of(key: string): Message[] {
    return this.messages.filter((m) => about(m, key));
  }

  /** The content of one completion, reassembled from its chunks. */
  contentOf(completionId: string): string {
    return this.of(completionId)
      .filter((m) => m.type === 'content_chunk')
      .map((m) => m.content as string)
      .join('');
  }

  /** Waits for a message matching `match`, returning it. */
  async next(what: string, match: (m: Message) => boolean, timeoutMs = 5000): Promise<Message> {
    let found: Message | undefined;
    await waitFor(what, () => (found = this.messages.find(match)) !== undefined, timeoutMs);
    return found!;
  }

  /** Waits for the terminal message (completed or error) of a completion (its `id` or `completionId`). */
  end(key: string, timeoutMs = 5000): Promise<Message> {
    return this.next(
      `the end of ${key}`,
      (m) => about(m, key) && (m.type === 'completed' || m.type === 'error'),
      timeoutMs,
    );
  }

  close(): Promise<number> {
    this.socket.close();
    return this.closed;
  }
}

/** Whether `m` is about the completion `key`: the client's id of it, or the server's. */
export function about(m: Message, key: string): boolean {
  return m.id === key || m.completionId === key;
}

/** A received frame's text. */
export function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8');
}
