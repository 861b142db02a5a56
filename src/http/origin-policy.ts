import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { refusalBody } from './server-limits';
import type { CorsConfig } from '../config/app-config';
import { MODEL_HEADER, PROVIDER_HEADER, REQUEST_ID_HEADER } from './headers';

/** How a request's Origin stands: none (not a browser), the server's own, listed, any (`*`), or refused. */
export type OriginVerdict = 'absent' | 'same' | 'listed' | 'any' | 'refused';

const ALLOWED_METHODS = 'GET, POST, DELETE, OPTIONS';
const ALLOWED_HEADERS =
  'authorization, content-type, last-event-id, x-request-id, x-provider-key, apollo-require-preflight';
const EXPOSED_HEADERS = [REQUEST_ID_HEADER, PROVIDER_HEADER, MODEL_HEADER, 'retry-after'].join(', ');

/**
 * The browser-origin allowlist (`server.cors`), for every edge: REST and SSE (CORS headers, preflights, and a
 * 403 for an origin not listed, so a page elsewhere cannot start work with a user's cookie), and the WebSocket
 * upgrades of `/ws/stream` and `/graphql` (refused with 403 before the handshake).
 */
export class OriginPolicy {
  private readonly listed: Set<string>;
  private readonly any: boolean;
  private readonly maxAgeSeconds: string;

  constructor(config: CorsConfig) {
    this.listed = new Set(config.origins.filter((o) => o !== '*').map((o) => o.toLowerCase()));
    this.any = config.origins.includes('*');
    this.maxAgeSeconds = String(Math.floor(config.max_age / 1000));
  }

  verdict(headers: IncomingHttpHeaders): OriginVerdict {
    const origin = headers.origin;
    if (origin === undefined) return 'absent';
    const normalized = origin.toLowerCase();
    if (this.listed.has(normalized)) return 'listed';
    const host = headers.host?.toLowerCase();
    if (host && (normalized === `http://${host}` || normalized === `https://${host}`)) return 'same';
    return this.any ? 'any' : 'refused';
  }

  /** Fastify onRequest: CORS headers, preflight answers, refusals. */
  readonly onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const verdict = this.verdict(request.headers);
    if (verdict === 'absent' || verdict === 'same') return;
    if (verdict === 'refused') {
      await reply
        .status(403)
        .header('content-type', 'application/json; charset=utf-8')
        .send(
          refusalBody(
            request,
            'forbidden',
            `Origin ${String(request.headers.origin).slice(0, 200)} is not allowed (server.cors.origins).`,
            'permission_error',
          ),
        );
      return;
    }
    if (verdict === 'listed') {
      reply.header('access-control-allow-origin', request.headers.origin);
      reply.header('access-control-allow-credentials', 'true');
      reply.header('vary', 'Origin');
    } else {
      reply.header('access-control-allow-origin', '*');
    }
    reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      await reply
        .status(204)
        .header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', ALLOWED_HEADERS)
        .header('access-control-max-age', this.maxAgeSeconds)
        .send();
    }
  };
}
