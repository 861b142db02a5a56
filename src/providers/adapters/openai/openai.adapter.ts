import type { ProviderConfig } from '../../../config/app-config';
import type { AdapterDeps } from '../../http/http-provider.adapter';
import { OpenAiBaseAdapter } from './openai-base.adapter';

/** OpenAI itself: `max_completion_tokens` (its reasoning models reject `max_tokens`), `reasoning_effort`. */
export class OpenAiAdapter extends OpenAiBaseAdapter {
  constructor(id: string, config: ProviderConfig, deps: AdapterDeps) {
    super(id, config, deps, {
      type: 'openai',
      defaultBaseUrl: 'https://api.openai.com/v1',
      requiresKey: true,
      dialect: { maxTokensField: 'max_completion_tokens', developerRole: true, reasoning: 'effort' },
    });
  }
}
