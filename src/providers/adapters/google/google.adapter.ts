import type { ProviderConfig } from '../../../config/app-config';
import { type AdapterDeps, HttpProviderAdapter, type UpstreamCall } from '../../http/http-provider.adapter';
import { type VendorCodec } from '../../http/vendor-codec';
import type { ProviderStreamRequest } from '../../provider-adapter';
import { geminiModelPath, toGeminiBody } from './google.request';
import { geminiErrorBody, GoogleStreamParser, parseGeminiResponse } from './google.stream-parser';

/**
 * Google Gemini (the Gemini API, `generativelanguage.googleapis.com/v1beta`):
 * `POST /models/{model}:streamGenerateContent?alt=sse` (SSE, each frame a whole GenerateContentResponse, no end
 * marker) or `:generateContent`, with the key in `x-goog-api-key`.
 */
export class GoogleAdapter extends HttpProviderAdapter {
  readonly type = 'google' as const;
  readonly framing = 'sse' as const;
  protected readonly codec: VendorCodec = {
    parser: (ctx) => new GoogleStreamParser(ctx),
    response: parseGeminiResponse,
    errorInfo: geminiErrorBody,
  };

  constructor(id: string, config: ProviderConfig, deps: AdapterDeps) {
    super(id, config, deps, 'https://generativelanguage.googleapis.com/v1beta', true);
  }

  protected buildCall(request: ProviderStreamRequest, stream: boolean, apiKey?: string): UpstreamCall {
    const model = geminiModelPath(request.model.upstream);
    return {
      path: `/models/${model}:${stream ? 'streamGenerateContent' : 'generateContent'}`,
      ...(stream ? { query: { alt: 'sse' } } : {}),
      headers: {
        ...this.jsonHeaders(stream),
        ...this.authHeaders(apiKey, 'x-goog-api-key'),
      },
      body: JSON.stringify(toGeminiBody(request.body, this.id)),
    };
  }
}
