import type { ProviderConfig } from '../../../config/app-config';
import type { AdapterDeps } from '../../http/http-provider.adapter';
import { OpenAiBaseAdapter } from '../openai/openai-base.adapter';

/**
 * Any OpenAI-compatible server at a configured base URL (vLLM, LM Studio, llama.cpp, Azure-style deployments
 * with `auth_header: api-key` and `query: {api-version}`). A key is sent when configured but not required;
 * `developer` messages go as `system`, which every such server understands.
 */
export class OpenAiCompatibleAdapter extends OpenAiBaseAdapter {
  constructor(id: string, config: ProviderConfig, deps: AdapterDeps) {
    super(id, config, deps, {
      type: 'openai-compatible',
      requiresKey: false,
      dialect: { maxTokensField: 'max_tokens', developerRole: false, reasoning: 'effort' },
    });
  }
}
