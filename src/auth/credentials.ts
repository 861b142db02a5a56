import type { IncomingHttpHeaders } from 'node:http';

/** The query parameter EventSource clients and WebSocket clients may carry their token in. */
export const ACCESS_TOKEN_PARAM = 'access_token';

/** `Bearer <token>` (scheme case-insensitive), else undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const match = /^bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/** `access_token` from a request URL's query string. */
export function queryToken(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q === -1) return undefined;
  const value = new URLSearchParams(url.slice(q + 1)).get(ACCESS_TOKEN_PARAM);
  return value === null || value === '' ? undefined : value;
}

/** A cookie's value from a Cookie header. */
export function cookieToken(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return value === '' ? undefined : decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

/**
 * The token of an HTTP request (or WebSocket upgrade): the Authorization header, else (where `urlAndCookie`
 * allows) the query parameter, else the cookie when it may count (`cookieName` undefined: it may not).
 */
export function requestToken(
  headers: IncomingHttpHeaders,
  url: string | undefined,
  urlAndCookie: { cookieName: string | undefined } | undefined,
): string | undefined {
  const header = bearerToken(headers.authorization);
  if (header !== undefined || !urlAndCookie) return header;
  const cookieName = urlAndCookie.cookieName;
  return queryToken(url) ?? (cookieName === undefined ? undefined : cookieToken(headers.cookie, cookieName));
}
