import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** How long a paused writer waits before looking at the send buffer again, without a drain event. */
const DRAIN_RECHECK_MS = 250;

/**
 * Resolves when the socket's write buffer drains (or it closes, or after a while: the caller looks again).
 * Every paused writer of a connection shares one wait, so 32 paused streams add one listener, not 32.
 */
const drains = new WeakMap<WebSocket, Promise<void>>();

/** The net socket under a ws WebSocket (undefined once it is gone). */
function rawOf(socket: WebSocket): Duplex | undefined {
  return (socket as unknown as { _socket?: Duplex })._socket;
}

export function whenWritable(socket: WebSocket): Promise<void> {
  let wait = drains.get(socket);
  if (wait) return wait;
  const raw = rawOf(socket);
  wait = new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      raw?.off('drain', done);
      socket.off('close', done);
      drains.delete(socket);
      resolve();
    };
    const timer = setTimeout(done, DRAIN_RECHECK_MS);
    raw?.once('drain', done);
    socket.once('close', done);
  });
  drains.set(socket, wait);
  return wait;
}

const corked = new WeakSet<Duplex>();

/**
 * Sends a message, letting every message sent in the same tick leave in one write: the socket is corked at the
 * first and uncorked once the tick's work is done (a burst of chunks from one upstream read is one syscall,
 * not one per message), which costs no latency.
 */
export function sendInBurst(socket: WebSocket, data: string): void {
  const raw = rawOf(socket);
  if (raw && !corked.has(raw)) {
    corked.add(raw);
    raw.cork();
    process.nextTick(uncork, raw);
  }
  socket.send(data);
}

function uncork(raw: Duplex): void {
  corked.delete(raw);
  raw.uncork();
}
