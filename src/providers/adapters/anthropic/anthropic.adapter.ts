import type { ModelConfig, ProviderConfig } from '../../../config/app-config';
import type { StreamEvent } from '../../../streaming/stream-event';
import {
  type AdapterDeps,
  HttpProviderAdapter,
  type ParseContext,
  type UpstreamCall,
  type VendorStreamParser,
} from '../../http/http-provider.adapter';
import type { VendorErrorInfo } from '../../http/upstream-errors';
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
        'content-type': 'application/json',
        accept: stream ? 'text/event-stream' : 'application/json',
        'anthropic-version': ANTHROPIC_VERSION,
        ...this.authHeaders(apiKey, 'x-api-key'),
      },
      body: JSON.stringify(toAnthropicBody(request.body, request.model, stream, this.id)),
    };
  }

  protected createParser(ctx: ParseContext): VendorStreamParser {
    return new AnthropicStreamParser(ctx);
  }

  protected parseResponse(body: unknown, ctx: ParseContext): StreamEvent[] {
    return parseAnthropicResponse(body, ctx);
  }

  protected errorInfo(body: unknown): VendorErrorInfo {
    return anthropicErrorBody(body);
  }
}
