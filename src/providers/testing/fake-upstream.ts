import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A scriptable HTTP server on loopback that plays an LLM vendor. Tests queue responses (one per request, in
 * order); with the queue empty, the vendor's default answer is played. Every request is recorded.
 */

export interface RecordedRequest {
  method: string;
  /** Path with query string. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** The body parsed as JSON, or the raw text when it is not JSON. */
  body: unknown;
}

/** One step of a scripted response body. */
export type WireStep =
  /** Write these bytes as they are. */
  | { write: string | Buffer }
  | { delayMs: number }
  /** Write nothing more and never end (a hung upstream); ends when the client goes away. */
  | { stall: true }
  /** Destroy the socket at once, mid-response (a reset). */
  | { destroy: true }
  /** Write `text` a few bytes at a time, pausing between writes (a slow drip). */
  | { drip: string; bytes: number; everyMs: number };

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  steps: WireStep[];
  /** Wait this long before sending the status line and headers (a stall before the first byte). */
  headerDelayMs?: number;
  /** Never send headers at all (until the client gives up). */
  stallBeforeHeaders?: boolean;
}

export type Responder = (request: RecordedRequest) => WireResponse;

export interface UpstreamStats {
  /** Requests whose client went away before the response was complete. */
  clientAborts: number;
  /** TCP connections accepted, over the server's life (keep-alive reuse keeps this low). */
  connections: number;
  /** Connections open right now. */
  openConnections: number;
}

export class FakeUpstream {
  readonly requests: RecordedRequest[] = [];
  readonly stats: UpstreamStats = { clientAborts: 0, connections: 0, openConnections: 0 };
  private readonly queue: Responder[] = [];
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  url = '';

  /**
   * `fallback` answers when the queue is empty. `options.route` answers fixed routes (model lists) before the
   * queue is looked at, so background polls never consume a test's scripted reply. `record: false` keeps no
   * request history (benchmarks).
   */
  constructor(
    private readonly fallback: Responder,
    private readonly options: {
      record?: boolean;
      route?: (request: RecordedRequest) => WireResponse | undefined;
    } = {},
  ) {}

  async start(port = 0, host = '127.0.0.1'): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 60_000;
    server.on('connection', (socket: Socket) => {
      this.stats.connections++;
      this.stats.openConnections++;
      this.sockets.add(socket);
      socket.on('close', () => {
        this.stats.openConnections--;
        this.sockets.delete(socket);
      });
    });
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    this.server = server;
    this.url = `http://${host}:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** Queues one-shot responses, played in order for the next requests. */
  enqueue(...responders: Responder[]): this {
    this.queue.push(...responders);
    return this;
  }

  /** Forgets queued responses and recorded requests (between tests). */
  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
    this.stats.clientAborts = 0;
  }

  get lastRequest(): RecordedRequest | undefined {
    return this.requests[this.requests.length - 1];
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      // kept as text
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    if (this.options.record !== false) this.requests.push(recorded);
    let response: WireResponse;
    try {
      response = this.options.route?.(recorded) ?? (this.queue.shift() ?? this.fallback)(recorded);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`fake upstream script failed: ${String(err)}`);
      return;
    }
    let finished = false;
    res.on('close', () => {
      if (!finished) this.stats.clientAborts++;
    });
    await this.play(response, res);
    finished = res.writableFinished;
  }

  private async play(response: WireResponse, res: ServerResponse): Promise<void> {
    if (response.stallBeforeHeaders) {
      await untilClosed(res);
      return;
    }
    if (response.headerDelayMs) await sleep(response.headerDelayMs);
    if (res.destroyed) return;
    res.writeHead(response.status, response.headers);
    res.flushHeaders();
    for (const step of response.steps) {
      if (res.destroyed) return;
      if ('write' in step) {
        if (!res.write(step.write)) await drained(res);
      } else if ('delayMs' in step) {
        await sleep(step.delayMs);
      } else if ('stall' in step) {
        await untilClosed(res);
        return;
      } else if ('destroy' in step) {
        res.socket?.resetAndDestroy();
        return;
      } else {
        const bytes = Buffer.from(step.drip, 'utf8');
        for (let i = 0; i < bytes.length && !res.destroyed; i += step.bytes) {
          res.write(bytes.subarray(i, i + step.bytes));
          await sleep(step.everyMs);
        }
      }
    }
    res.end();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function untilClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) resolve();
    else res.once('close', () => resolve());
  });
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
