import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { RequestErrorCode } from '../contract/error-code';
import { openAiErrorBody, typeForStatus } from '../common/errors/openai-error';
import type { ServerConfig } from '../config/app-config';

/**
 * What the HTTP server itself answers, before any route: refusals of the HTTP parser (malformed requests,
 * oversized headers, timeouts), unmet `Expect` headers, and connections past the per-client cap. Every one of
 * them leaves as OpenAI error JSON, like the errors of the routes, and closes the connection.
 */

/** How often Node looks for requests past headers_timeout (its default is 30 s). */
export const CONNECTION_CHECK_INTERVAL_MS = 2_000;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route speaks GraphQL: refusals of the server's own hooks are GraphQL error bodies there. */
    graphqlErrors?: boolean;
  }
}

/**
 * The body of a refusal by one of the server's own hooks (before any handler): OpenAI error JSON, or a
 * GraphQL error body on a GraphQL route (`extensions.code` is the code upper-cased, as GraphQL errors are).
 */
export function refusalBody(request: FastifyRequest, code: string, message: string, type: string): unknown {
  return request.routeOptions.config.graphqlErrors
    ? { errors: [{ message, extensions: { code: code.toUpperCase() } }] }
    : openAiErrorBody(code, message, type);
}

const overCap = new WeakSet<object>();

/** A raw HTTP/1.1 response with an OpenAI error body, for sockets no route has answered. */
export function rawErrorResponse(status: number, reason: string, code: string, message: string): string {
  const body = JSON.stringify(openAiErrorBody(code, message, typeForStatus(status)));
  return (
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** Fastify's `clientErrorHandler`: the parser refused the request (or it timed out) before any route ran. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (socket.writable && !socket.destroyed) {
    socket.end(clientErrorResponse(error.code));
  }
  socket.destroy(); // a half-parsed connection cannot be reused
}

function clientErrorResponse(code: string | undefined): string {
  switch (code ?? '') {
    case 'HPE_HEADER_OVERFLOW':
      return rawErrorResponse(
        431,
        'Request Header Fields Too Large',
        RequestErrorCode.RequestTooLarge,
        'The request headers are too large (server.max_header_size).',
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return rawErrorResponse(
        408,
        'Request Timeout',
        RequestErrorCode.InvalidRequest,
        'The request did not arrive in time (server.headers_timeout, server.request_timeout).',
      );
    default:
      return rawErrorResponse(
        400,
        'Bad Request',
        RequestErrorCode.InvalidRequest,
        'The request is not valid HTTP/1.1.',
      );
  }
}

/**
 * An onRequest hook: a request body must have arrived `ms` after its headers, or the connection is answered
 * 408 and closed (a body drip-fed a byte at a time holds a socket only so long). Node's own requestTimeout is
 * not used: it also ends responses whose client reads slowly (a paused stream), which backpressure must keep.
 */
export function bodyTimeout(ms: number): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return (request, reply) => {
    const raw = request.raw;
    if (raw.complete || !hasBody(raw)) return Promise.resolve();
    const timer = setTimeout(() => {
      const socket = raw.socket;
      if (!reply.raw.headersSent && socket.writable)
        socket.end(clientErrorResponse('ERR_HTTP_REQUEST_TIMEOUT'));
      socket.destroy();
    }, ms);
    const clear = () => clearTimeout(timer);
    raw.once('end', clear);
    reply.raw.once('close', clear);
    return Promise.resolve();
  };
}

function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Timeouts on what a client sends (headers drip-fed a byte at a time hold a socket only so long), unmet
 * `Expect` headers answered in OpenAI's shape, and the per-client connection cap.
 */
export function installServerLimits(server: Server, config: ServerConfig): void {
  server.headersTimeout = config.headers_timeout;
  server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify(
      openAiErrorBody(
        RequestErrorCode.InvalidRequest,
        'Only "Expect: 100-continue" is supported.',
        typeForStatus(417),
      ),
    );
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    response.end(body);
  });
  const cap = config.max_connections_per_ip;
  // Behind a proxy every connection comes from the proxy: the cap is the proxy's to enforce per client.
  if (cap === 0 || config.trust_proxy) return;
  const open = new Map<string, number>();
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    open.set(address, count);
    if (count > cap) overCap.add(socket);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/** Whether the socket was accepted past `server.max_connections_per_ip` (its request is answered 429). */
export function isOverConnectionCap(socket: Duplex | Socket | null | undefined): boolean {
  return socket !== null && socket !== undefined && overCap.has(socket);
}

export const TOO_MANY_CONNECTIONS_MESSAGE =
  'Too many connections from your address (server.max_connections_per_ip); close some and retry.';
