import type { ProviderType } from '../../config/app-config';

/**
 * A vendor base URL as users write it, with or without the API's version path, -> the URL the adapter appends
 * its paths to. The official SDKs disagree: OpenAI's OPENAI_BASE_URL carries `/v1`, Anthropic's
 * ANTHROPIC_BASE_URL does not, Gemini's SDKs keep the version apart; so both forms are accepted.
 *   anthropic          .../v1 kept; anything else gets /v1          (http://host:port -> http://host:port/v1)
 *   google             .../v1, /v1beta, /v1alpha kept; else /v1beta
 *   openrouter         .../v1 kept; no path or /api -> /api/v1
 *   openai, openai-compatible   no path -> /v1; any other path is kept (Azure deployments, proxies)
 *   ollama             a trailing /api or /v1 is dropped (the adapter calls /api/chat, /api/tags)
 * Trailing slashes are dropped first.
 */
export function normalizeBaseUrl(type: ProviderType, raw: string): URL {
  const url = new URL(raw);
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = versioned(type, path) || '/';
  return url;
}

function versioned(type: ProviderType, path: string): string {
  switch (type) {
    case 'anthropic':
      return /\/v1$/.test(path) ? path : `${path}/v1`;
    case 'google':
      return /\/v\d+(alpha|beta)?$/.test(path) ? path : `${path}/v1beta`;
    case 'openrouter':
      if (/\/v1$/.test(path)) return path;
      return path === '' || path === '/api' ? '/api/v1' : path;
    case 'openai':
    case 'openai-compatible':
      return path === '' ? '/v1' : path;
    case 'ollama':
      return path.replace(/\/(api|v1)$/, '');
    case 'simulated':
      return path;
  }
}

/** The base URL for logs: no credentials, no query (an Azure key may sit in either). */
export function describeBaseUrl(url: URL | undefined): string | undefined {
  if (!url) return undefined;
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}
