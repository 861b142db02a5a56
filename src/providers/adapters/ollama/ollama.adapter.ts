import { isObject } from '../../../common/is-object';
import type { ModelConfig, ProviderConfig } from '../../../config/app-config';
import { type AdapterDeps, HttpProviderAdapter, type UpstreamCall } from '../../http/http-provider.adapter';
import { type VendorCodec } from '../../http/vendor-codec';
import { invalidResponse } from '../../http/upstream-errors';
import type { ProviderStreamRequest } from '../../provider-adapter';
import { toOllamaBody } from './ollama.request';
import { ollamaErrorInfo, OllamaStreamParser, parseOllamaResponse } from './ollama.stream-parser';
import type { OllamaTagsResponse } from './ollama.types';

/**
 * Ollama's native API: `POST {base}/api/chat` streaming NDJSON, and `GET {base}/api/tags` for the local models.
 * There is no default base URL (it is wherever Ollama runs) and no key; a configured key is sent as Bearer, for
 * deployments behind an auth proxy.
 */
export class OllamaAdapter extends HttpProviderAdapter {
  readonly type = 'ollama' as const;
  readonly framing = 'ndjson' as const;
  protected readonly codec: VendorCodec = {
    parser: (ctx) => new OllamaStreamParser(ctx),
    response: parseOllamaResponse,
    errorInfo: ollamaErrorInfo,
  };

  constructor(id: string, config: ProviderConfig, deps: AdapterDeps) {
    super(id, config, deps, undefined, false);
  }

  protected buildCall(request: ProviderStreamRequest, stream: boolean, apiKey?: string): UpstreamCall {
    return {
      path: '/api/chat',
      headers: {
        ...this.jsonHeaders(stream),
        ...this.authHeaders(apiKey),
      },
      body: JSON.stringify(toOllamaBody(request.body, request.model.upstream, stream, this.id)),
    };
  }

  /** The models Ollama has pulled, as catalogue entries `<id>/<name>` (`name:latest` also as `<id>/<name>`). */
  async discoverModels(signal: AbortSignal): Promise<ModelConfig[]> {
    return ollamaModels(await this.getJson('/api/tags', signal), this.id);
  }
}

const LATEST = ':latest';
/** A model name Ollama could have listed: no blanks, not starting with the tag separator, of sane length. */
const MODEL_NAME = /^[^\s:][^\s]{0,199}$/;

/** `GET /api/tags` -> catalogue entries; entries without a usable name are skipped. */
export function ollamaModels(body: unknown, providerId: string): ModelConfig[] {
  if (!isObject(body)) throw invalidResponse(providerId, 'the model list (/api/tags) is not a JSON object');
  const { models } = body as OllamaTagsResponse;
  if (!Array.isArray(models))
    throw invalidResponse(providerId, 'the model list (/api/tags) has no `models` array');
  const out: ModelConfig[] = [];
  const seen = new Set<string>();
  for (const entry of models as unknown[]) {
    if (!isObject(entry)) continue;
    const name = typeof entry.name === 'string' ? entry.name : entry.model;
    if (typeof name !== 'string' || !MODEL_NAME.test(name) || seen.has(name)) continue;
    seen.add(name);
    const aliases = name.endsWith(LATEST) ? [`${providerId}/${name.slice(0, -LATEST.length)}`] : [];
    out.push({ id: `${providerId}/${name}`, provider: providerId, upstream: name, aliases, options: {} });
  }
  return out;
}
