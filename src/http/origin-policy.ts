import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { refusalBody } from './server-limits';
import type { CorsConfig } from '../config/app-config';
import { MODEL_HEADER, PROVIDER_HEADER, REQUEST_ID_HEADER } from './headers';
import { OriginAllowlist, type OriginVerdict } from '../auth/origin-allowlist';

const ALLOWED_METHODS = 'GET, POST, DELETE, OPTIONS';
const ALLOWED_HEADERS =
  'authorization, content-type, last-event-id, x-request-id, x-provider-key, apollo-require-preflight';
const EXPOSED_HEADERS = [REQUEST_ID_HEADER, PROVIDER_HEADER, MODEL_HEADER, 'retry-after'].join(', ');

/**
 * CORS for REST and SSE (`server.cors`): the allowlist's verdict (auth's OriginAllowlist, which the WebSocket
 * upgrades use too) turned into CORS headers, preflight answers, and a 403 for an origin not listed, so a page
 * elsewhere cannot start work with a user's cookie.
 */
export class OriginPolicy {
  private readonly allowlist: OriginAllowlist;
  private readonly maxAgeSeconds: string;

  constructor(config: CorsConfig) {
    this.allowlist = new OriginAllowlist(config);
    this.maxAgeSeconds = String(Math.floor(config.max_age / 1000));
  }

  verdict(headers: IncomingHttpHeaders): OriginVerdict {
    return this.allowlist.verdict(headers);
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
