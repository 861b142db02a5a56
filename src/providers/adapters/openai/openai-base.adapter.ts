import { isObject } from '../../../common/is-object';
import type { ProviderConfig, ProviderType } from '../../../config/app-config';
import { type AdapterDeps, HttpProviderAdapter, type UpstreamCall } from '../../http/http-provider.adapter';
import { type VendorCodec } from '../../http/vendor-codec';
import type { VendorErrorInfo } from '../../http/upstream-errors';
import type { ProviderStreamRequest } from '../../provider-adapter';
import { type OpenAiDialect, toOpenAiBody } from './openai.request';
import { openAiErrorInfo, OpenAiStreamParser, parseOpenAiResponse } from './openai.stream-parser';

export interface OpenAiBaseOptions {
  type: ProviderType;
  dialect: OpenAiDialect;
  defaultBaseUrl?: string;
  requiresKey: boolean;
}

/**
 * The base adapter of every OpenAI-compatible API (OpenAI, OpenRouter, vLLM, LM Studio, Azure-style base URLs,
 * Ollama /v1): `POST {base}/chat/completions`, SSE with `data: [DONE]`. Vendors differ only in their dialect,
 * default base URL and whether a key is required.
 */
export class OpenAiBaseAdapter extends HttpProviderAdapter {
  readonly type: ProviderType;
  readonly framing = 'sse' as const;
  protected readonly codec: VendorCodec = {
    parser: (ctx) => new OpenAiStreamParser(ctx),
    response: parseOpenAiResponse,
    errorInfo: openAiErrorBody,
  };
  private readonly dialect: OpenAiDialect;

  constructor(id: string, config: ProviderConfig, deps: AdapterDeps, options: OpenAiBaseOptions) {
    super(id, config, deps, options.defaultBaseUrl, options.requiresKey);
    this.type = options.type;
    this.dialect = options.dialect;
  }

  protected buildCall(request: ProviderStreamRequest, stream: boolean, apiKey?: string): UpstreamCall {
    return {
      path: '/chat/completions',
      headers: {
        ...this.jsonHeaders(stream),
        ...this.authHeaders(apiKey),
      },
      body: JSON.stringify(toOpenAiBody(request.body, request.model.upstream, stream, this.dialect)),
    };
  }
}

/** An OpenAI-style error body (`{"error": {...}}`), or the start of a non-JSON body (a proxy's page). */
function openAiErrorBody(body: unknown): VendorErrorInfo {
  if (isObject(body) && isObject(body.error)) {
    const { status: _status, ...info } = openAiErrorInfo(body.error);
    return info;
  }
  return typeof body === 'string' && body.trim() !== '' ? { message: body.trim().slice(0, 200) } : {};
}
