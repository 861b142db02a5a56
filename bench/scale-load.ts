/**
 * A load process of the scale bench (bench/scale.ts forks a few, so that thousands of streams are not one
 * event loop's worth of client work): it opens its share of streams spread over a window, times each one's
 * first content from its request, and reports once every stream has ended.
 *
 * Messages from the parent:
 *   { type: 'sse', url, count, windowMs, body }                 POST SSE streams
 *   { type: 'ws', url, sockets, perSocket, windowMs, request }  /ws/stream completions, perSocket per socket
 * Replies: { type: 'first' } once every stream has its first content (the parent then reads the router's RSS),
 * then { type: 'done', firsts, errors, completed, reasons }.
 */
import { Agent, request as httpRequest } from 'node:http';
import WebSocket from 'ws';

export type LoadOrder =
  | { type: 'sse'; url: string; count: number; windowMs: number; body: string }
  | {
      type: 'ws';
      url: string;
      sockets: number;
      perSocket: number;
      windowMs: number;
      request: Record<string, unknown>;
    };

export type LoadReport =
  | { type: 'first' }
  | { type: 'done'; firsts: number[]; errors: number; completed: number; reasons: Record<string, number> };

const send = (message: LoadReport) => process.send?.(message);
const NON_EMPTY_CONTENT = /"content":"(?!")/;

let firstsSeen = 0;
let total = 0;
const firsts: number[] = [];
let errors = 0;
let completed = 0;
let ended = 0;
/** Why streams failed: an HTTP status, a socket error code, or an ending without [DONE]. */
const reasons: Record<string, number> = {};

function sawFirst(ms: number): void {
  firsts.push(ms);
  if (++firstsSeen === total) send({ type: 'first' });
}

function end(ok: boolean, reason = 'no end'): void {
  if (ok) completed++;
  else {
    errors++;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  }
  if (++ended === total) send({ type: 'done', firsts, errors, completed, reasons });
}

/** Starts `count` calls of `start` spread evenly over `windowMs`. */
function spread(count: number, windowMs: number, start: (i: number) => void): void {
  const t0 = performance.now();
  let i = 0;
  const tick = () => {
    const due =
      windowMs <= 0 ? count : Math.min(count, Math.ceil(((performance.now() - t0) / windowMs) * count));
    while (i < due) start(i++);
    if (i < count) setTimeout(tick, 5);
  };
  tick();
}

function sse(order: Extract<LoadOrder, { type: 'sse' }>): void {
  total = order.count;
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const url = `${order.url}/v1/chat/completions`;
  spread(order.count, order.windowMs, () => {
    const started = performance.now();
    let first = false;
    let done = false;
    const req = httpRequest(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.on('data', (chunk: Buffer) => {
          const text = chunk.toString('latin1');
          if (!first && NON_EMPTY_CONTENT.test(text)) {
            first = true;
            sawFirst(performance.now() - started);
          }
          if (text.includes('data: [DONE]')) done = true;
        });
        res.on('end', () =>
          end(
            res.statusCode === 200 && done && first,
            res.statusCode === 200 ? 'no [DONE]' : `HTTP ${res.statusCode}`,
          ),
        );
        res.on('error', (err: NodeJS.ErrnoException) => end(false, err.code ?? err.message));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => end(false, err.code ?? err.message));
    req.end(order.body);
  });
}

async function ws(order: Extract<LoadOrder, { type: 'ws' }>): Promise<void> {
  total = order.sockets * order.perSocket;
  const sockets = await Promise.all(
    Array.from(
      { length: order.sockets },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const socket = new WebSocket(`${order.url.replace(/^http/, 'ws')}/ws/stream`, {
            perMessageDeflate: false,
          });
          socket.once('open', () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  const started = new Map<string, number>();
  const firstSeen = new Set<string>();
  for (const socket of sockets) {
    socket.on('message', (data: Buffer) => {
      const text = data.toString('latin1');
      const id = /"id":"([^"]+)"/.exec(text)?.[1];
      if (id === undefined) return;
      const at = started.get(id);
      if (at === undefined) return;
      if (!firstSeen.has(id) && text.startsWith('{"type":"content_chunk"')) {
        firstSeen.add(id);
        sawFirst(performance.now() - at);
      }
      if (text.startsWith('{"type":"completed"') || text.startsWith('{"type":"error"')) {
        started.delete(id);
        end(text.startsWith('{"type":"completed"') && firstSeen.has(id));
      }
    });
    socket.on('close', () => undefined);
  }
  spread(total, order.windowMs, (i) => {
    const socket = sockets[i % sockets.length]!;
    const id = `s${i}`;
    started.set(id, performance.now());
    socket.send(JSON.stringify({ type: 'completion', id, ...order.request }));
  });
}

process.on('message', (order: LoadOrder) => {
  if (order.type === 'sse') sse(order);
  else void ws(order);
});
