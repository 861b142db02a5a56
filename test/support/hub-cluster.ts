import { createServer, type Server, Socket } from 'node:net';
import type { SseEvent } from '../../src/providers/framing/sse.parser';
import { startApp, type TestApp } from './app';
import type { ConfigLayer } from '../../src/config/config.loader';
import { REDIS_URL, redisClient } from './redis-prefix';
import { readSse, type SseResult } from './sse-client';
import { waitFor } from './wait';

/**
 * Helpers for the stream hub's cluster tests: two nodes on one Redis, event streams read while they run (and cut
 * mid-way), and a TCP relay whose connections a test can drop.
 */

/** `count` distinct words, so a duplicated or missing chunk shows in the joined text. */
export function words(count: number, tag = 'w'): string {
  return Array.from({ length: count }, (_, i) => `${tag}${i}`).join(' ');
}

/** A streamed echo request (the simulated provider streams the last user message back, word by word). */
export function echoStream(text: string, model = 'simulated/echo'): Record<string, unknown> {
  return {
    model,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: text }],
  };
}

/**
 * Two app instances that share Redis keys (one prefix): a cluster of two nodes in this process, returned once
 * both hear each other (see `hubsListening`).
 */
export async function startPair(prefix: string, ...layers: ConfigLayer[]): Promise<[TestApp, TestApp]> {
  const shared: ConfigLayer = { redis: { key_prefix: prefix } };
  const a = await startApp(...layers, shared);
  let b: TestApp | undefined;
  try {
    b = await startApp(...layers, shared);
    await hubsListening(prefix, 2, a.config.redis.url);
    return [a, b];
  } catch (err) {
    await a.close();
    await b?.close();
    throw err;
  }
}

/**
 * Waits until `nodes` nodes have subscribed to the hub's control and start channels (PUBSUB NUMSUB): a node
 * whose first SUBSCRIBE missed its deadline (a slow boot on a loaded machine) only tries again seconds later,
 * and a cancel sent to it before then is not heard.
 */
export async function hubsListening(prefix: string, nodes: number, url = REDIS_URL): Promise<void> {
  const client = redisClient(url);
  try {
    const channels = [`${prefix}bus:hub-control`, `${prefix}bus:hub-starts`];
    await waitFor(
      `${nodes} nodes subscribed to ${channels.join(' and ')}`,
      async () => {
        const reply = (await client.call('PUBSUB', 'NUMSUB', ...channels)) as Array<string | number>;
        // [channel, count, channel, count] (a map under RESP3, flattened the same way by ioredis).
        return reply.filter((_, i) => i % 2 === 1).every((count) => Number(count) >= nodes);
      },
      15_000,
    );
  } finally {
    client.disconnect();
  }
}

/** An event stream being read: its events so far, its end, and a way to cut it (as a client dying would). */
export interface LiveSse {
  response: Response;
  events: SseEvent[];
  /** The whole stream, or the error that ended the read (the abort after `cut()`). */
  done: Promise<SseResult>;
  /** The `id:` of the last event received ('' before the first). */
  readonly lastId: string;
  /** Resolves once at least `n` events arrived. */
  atLeast(n: number, timeoutMs?: number): Promise<void>;
  /** Ends the connection from the client side (the read's `done` then rejects). */
  cut(): void;
}

/** Opens `url` (fetch `init`) and reads it as an event stream as it comes. Fails on a non-2xx status. */
export async function openSse(url: string, init: RequestInit = {}): Promise<LiveSse> {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  if (response.status >= 300) {
    throw new Error(`${url}: ${response.status} ${await response.text()}`);
  }
  const events: SseEvent[] = [];
  const done = readSse(response, (event) => events.push(event));
  done.catch(() => undefined); // a cut stream's rejection is read by whoever awaits `done`
  return {
    response,
    events,
    done,
    get lastId() {
      return events.at(-1)?.id ?? '';
    },
    atLeast: (n, timeoutMs = 5_000) =>
      waitFor(`${n} events from ${url}`, () => events.length >= n, timeoutMs),
    cut: () => controller.abort(),
  };
}

/** POSTs a streamed chat request and reads its event stream as it comes. */
export function postSse(url: string, body: unknown, headers: Record<string, string> = {}): Promise<LiveSse> {
  return openSse(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** The sequence number of an event id `<completionId>:<seq>`. */
export function seqOfId(id: string): number {
  return Number(id.slice(id.lastIndexOf(':') + 1));
}

/** The data frames of some events, [DONE] excluded, parsed. */
export function framesOf(events: readonly SseEvent[]): Array<Record<string, unknown>> {
  return events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as Record<string, unknown>);
}

interface ChunkFrame {
  choices?: Array<{ delta?: { role?: string; content?: string } }>;
  usage?: unknown;
  error?: { code?: string; type?: string; message?: string };
}

/** The answer text of some events (every `delta.content` joined). */
export function textOf(events: readonly SseEvent[]): string {
  return (framesOf(events) as ChunkFrame[]).map((f) => f.choices?.[0]?.delta?.content ?? '').join('');
}

/** How many frames carry the assistant's role (the first chunk of a stream, once). */
export function roleChunks(events: readonly SseEvent[]): number {
  return (framesOf(events) as ChunkFrame[]).filter((f) => f.choices?.[0]?.delta?.role !== undefined).length;
}

/** The usage chunk's usage (include_usage), if any. */
export function usageOf(events: readonly SseEvent[]): unknown {
  return (framesOf(events) as ChunkFrame[]).find((f) => f.usage)?.usage;
}

/** The error frame's error, if any. */
export function errorOf(events: readonly SseEvent[]): ChunkFrame['error'] {
  return (framesOf(events) as ChunkFrame[]).find((f) => f.error)?.error;
}

/**
 * A TCP relay on loopback to `target` (host:port): every connection through it is piped both ways, and
 * `cutAll()` destroys them all (both sides), as a network failure would, while the relay stays up for new ones.
 */
export class TcpRelay {
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly server: Server = createServer((client) => this.relay(client));
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(
    private targetPort: number,
    private readonly targetHost: string,
  ) {}

  /** New connections go to this port from now on (open ones stay where they are). */
  retarget(port: number): void {
    this.targetPort = port;
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpRelay> {
    const relay = new TcpRelay(targetPort, targetHost);
    await new Promise<void>((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return address.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Open connections now. */
  get open(): number {
    return this.pairs.size;
  }

  /** Destroys every open connection (the relay keeps accepting new ones). */
  cutAll(): void {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const upstream = new Socket();
    const pair: [Socket, Socket] = [client, upstream];
    this.accepted++;
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.connect(this.targetPort, this.targetHost, () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }
}
