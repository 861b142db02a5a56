/**
 * A receiver process of the fan-out bench (bench/hub.ts forks a few): it holds its share of the WebSocket
 * subscribers, so that the thousands of sockets are not one event loop that the measure would mostly be of.
 * Each socket subscribes to one completion (`subscribe_completion`, from the first event) and records when each
 * seq first reached it, on the machine's monotonic clock; it does no other work per message than finding `seq`.
 *
 * Messages from the parent: open {url, count} -> opened; subscribe {completionIds} (one per socket) ->
 * subscribed, then done once every socket has its terminal event; report -> report {subscribers, cpuMs}.
 */
import WebSocket from 'ws';
import { now } from './hub-tap';

interface Subscriber {
  socket: WebSocket;
  completionId: string;
  first: number;
  /** seq, arrival, seq, arrival... */
  arrivals: number[];
  done: boolean;
}

export interface ReceiverReport {
  subscribers: Array<{ completionId: string; first: number; arrivals: number[] }>;
  /** CPU this process used between subscribe and report. */
  cpuMs: number;
  messages: number;
}

export type ParentMessage =
  | { type: 'open'; url: string; count: number }
  | { type: 'subscribe'; completionIds: string[] }
  | { type: 'report' };

const SEQ = /"seq":(\d+)/;
const TERMINAL = /^\{"type":"(completed|error)"/;

const subscribers: Subscriber[] = [];
let pending = 0;
let messages = 0;
let cpuAtSubscribe = process.cpuUsage();

const send = (message: unknown) => process.send?.(message);

async function open(url: string, count: number): Promise<void> {
  // In batches: a burst of thousands of handshakes at once only measures the accept queue.
  for (let i = 0; i < count; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, count - i) }, () => {
        const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/stream`, { perMessageDeflate: false });
        const subscriber: Subscriber = {
          socket,
          completionId: '',
          first: Number.NaN,
          arrivals: [],
          done: false,
        };
        subscribers.push(subscriber);
        socket.on('message', (data: Buffer) => {
          const at = now();
          messages++;
          const text = data.toString('latin1');
          const seq = SEQ.exec(text)?.[1];
          if (seq !== undefined) {
            if (Number.isNaN(subscriber.first)) subscriber.first = at;
            subscriber.arrivals.push(Number(seq), at);
          }
          if (!subscriber.done && TERMINAL.test(text)) finish(subscriber);
        });
        socket.on('close', () => finish(subscriber));
        return new Promise<void>((resolve, reject) => {
          socket.once('open', () => resolve());
          socket.once('error', reject);
        });
      }),
    );
  }
}

function finish(subscriber: Subscriber): void {
  if (subscriber.done || subscriber.completionId === '') return;
  subscriber.done = true;
  if (--pending === 0) send({ type: 'done' });
}

process.on('message', (message: ParentMessage) => {
  switch (message.type) {
    case 'open':
      open(message.url, message.count).then(
        () => send({ type: 'opened' }),
        (err: unknown) => send({ type: 'failed', error: String(err) }),
      );
      break;
    case 'subscribe':
      cpuAtSubscribe = process.cpuUsage();
      pending = subscribers.length;
      subscribers.forEach((subscriber, i) => {
        subscriber.completionId = message.completionIds[i]!;
        subscriber.socket.send(
          JSON.stringify({
            type: 'subscribe_completion',
            completionId: subscriber.completionId,
            afterSequence: 0,
          }),
        );
      });
      send({ type: 'subscribed' });
      break;
    case 'report': {
      const cpu = process.cpuUsage(cpuAtSubscribe);
      const report: ReceiverReport = {
        subscribers: subscribers.map(({ completionId, first, arrivals }) => ({
          completionId,
          first,
          arrivals,
        })),
        cpuMs: (cpu.user + cpu.system) / 1000,
        messages,
      };
      send({ type: 'report', report });
      subscribers.forEach((subscriber) => subscriber.socket.terminate());
      break;
    }
  }
});
