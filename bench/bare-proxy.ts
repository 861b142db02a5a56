import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

/**
 * The floor of any Node hop (issue 20): node:http in, an undici pool out to the same upstream, the request
 * body piped up and the response bytes piped back, nothing parsed, validated, routed or counted. The router's
 * figures are read against this one's in the same run.
 */
export async function startBareProxy(upstream: string): Promise<{ url: string; close: () => Promise<void> }> {
  const pool = new Pool(upstream, { connections: 256, pipelining: 1 });
  const server: Server = createServer((req, res) => {
    pool.stream(
      {
        path: req.url ?? '/',
        method: req.method === 'POST' ? 'POST' : 'GET',
        headers: forwardable(req.headers),
        body: req.method === 'POST' ? req : null,
      },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, responseHeaders(headers));
        res.flushHeaders();
        return res;
      },
      (err) => {
        if (!err) return;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"bare proxy: upstream failed"}}');
      },
    );
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'upgrade', 'te']);

function forwardable(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function responseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
