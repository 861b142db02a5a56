import type { ProviderConfig } from '../../../config/app-config';
import type { AdapterDeps } from '../../http/http-provider.adapter';
import { OpenAiBaseAdapter } from '../openai/openai-base.adapter';

/**
 * OpenRouter: OpenAI-compatible with its unified `reasoning` option, `delta.reasoning`, `: OPENROUTER PROCESSING`
 * keepalive comments and numeric error codes in mid-stream error frames (all handled by the shared parser).
 */
export class OpenRouterAdapter extends OpenAiBaseAdapter {
  constructor(id: string, config: ProviderConfig, deps: AdapterDeps) {
    super(id, config, deps, {
      type: 'openrouter',
      defaultBaseUrl: 'https://openrouter.ai/api/v1',
      requiresKey: true,
      dialect: { maxTokensField: 'max_tokens', developerRole: true, reasoning: 'openrouter' },
    });
  }
}
