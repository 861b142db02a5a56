import type { FastifyReply } from 'fastify';
import { CompletionError, StreamErrorCode } from '../contract/error-code';

/**
 * A signal that aborts when the client goes away before the response is finished. It listens on the response
 * (not the request, whose `close` also fires once its body has been read).
 */
export function abortOnClientClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const raw = reply.raw;
  raw.once('close', () => {
    if (!raw.writableFinished) {
      controller.abort(new CompletionError(StreamErrorCode.Cancelled, 'The client closed the connection.'));
    }
  });
  return controller.signal;
}
