import type { ModelConfig, ProviderConfig } from '../../../config/app-config';
import { type AdapterDeps, HttpProviderAdapter, type UpstreamCall } from '../../http/http-provider.adapter';
import { type VendorCodec } from '../../http/vendor-codec';
import type { ProviderStreamRequest } from '../../provider-adapter';
import { modelMaxTokens, toAnthropicBody } from './anthropic.request';
import { anthropicErrorBody, AnthropicStreamParser, parseAnthropicResponse } from './anthropic.stream-parser';

export const ANTHROPIC_VERSION = '2023-06-01';

/**
 * Anthropic's Messages API: `POST {base}/messages` with `x-api-key` and `anthropic-version`, the system prompt
 * apart from the messages, tool calls as content blocks, and an SSE stream of named events ending with
 * `message_stop`.
 */
export class AnthropicAdapter extends HttpProviderAdapter {
  readonly type = 'anthropic' as const;
  readonly framing = 'sse' as const;
  protected readonly codec: VendorCodec = {
    parser: (ctx) => new AnthropicStreamParser(ctx),
    response: parseAnthropicResponse,
    errorInfo: anthropicErrorBody,
  };

  constructor(id: string, config: ProviderConfig, deps: AdapterDeps) {
    super(id, config, deps, 'https://api.anthropic.com/v1', true);
  }

  override checkModel(model: ModelConfig): string[] {
    const value = model.options.max_tokens;
    if (value !== undefined && modelMaxTokens(model) === undefined) {
      return ['options.max_tokens: must be a positive integer (the default max_tokens sent to Anthropic)'];
    }
    return [];
  }

  protected buildCall(request: ProviderStreamRequest, stream: boolean, apiKey?: string): UpstreamCall {
    return {
      path: '/messages',
      headers: {
        ...this.jsonHeaders(stream),
        'anthropic-version': ANTHROPIC_VERSION,
        ...this.authHeaders(apiKey, 'x-api-key'),
      },
      body: JSON.stringify(toAnthropicBody(request.body, request.model, stream, this.id)),
    };
  }
}
