import type { IncomingHttpHeaders } from 'node:http';
import type { CorsConfig } from '../config/app-config';

/** How a request's Origin stands: none (not a browser), the server's own, listed, any (`*`), or refused. */
export type OriginVerdict = 'absent' | 'same' | 'listed' | 'any' | 'refused';

/**
 * The browser-origin allowlist (`server.cors.origins`), for every edge: REST and SSE answer CORS from it
 * (http's OriginPolicy), and the WebSocket upgrades of `/ws/stream` and `/graphql` are refused with 403 before
 * the handshake when it says so.
 */
export class OriginAllowlist {
  private readonly listed: Set<string>;
  private readonly any: boolean;

  constructor(config: Pick<CorsConfig, 'origins'>) {
    this.listed = new Set(config.origins.filter((o) => o !== '*').map((o) => o.toLowerCase()));
    this.any = config.origins.includes('*');
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
}
