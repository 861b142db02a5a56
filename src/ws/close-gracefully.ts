import type { WebSocketServer } from 'ws';
import { CLOSE_GOING_AWAY } from './mux-messages';

/** How long a client gets to answer the server's close frame at shutdown. */
const CLOSE_GRACE_MS = 1_000;

/**
 * Shutdown: each client gets a 1001 close frame and a moment to answer, so the last frames of a drained
 * stream are not cut off; those that do not answer are then terminated.
 */
export async function closeGracefully(server: WebSocketServer): Promise<void> {
  await Promise.all(
    [...server.clients].map(
      (client) =>
        new Promise<void>((resolve) => {
          if (client.readyState === client.CLOSED) return resolve();
          const timer = setTimeout(() => {
            client.terminate();
            resolve();
          }, CLOSE_GRACE_MS);
          client.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          client.close(CLOSE_GOING_AWAY, 'server shutting down');
        }),
    ),
  );
}
