import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig, type ProviderConfig, type ProviderType } from '../config/app-config';
import { ConfigError } from '../config/config.loader';
import { OllamaAdapter } from './adapters/ollama/ollama.adapter';
import { AnthropicAdapter } from './adapters/anthropic/anthropic.adapter';
import { GoogleAdapter } from './adapters/google/google.adapter';
import { OpenAiAdapter } from './adapters/openai/openai.adapter';
import { OpenAiCompatibleAdapter } from './adapters/openai-compatible/openai-compatible.adapter';
import { OpenRouterAdapter } from './adapters/openrouter/openrouter.adapter';
import { SimulatedAdapter } from './adapters/simulated/simulated.adapter';
import type { AdapterDeps } from './http/http-provider.adapter';
import { UpstreamPools } from './http/upstream-pools';
import type { ProviderAdapter } from './provider-adapter';
import { ProviderKeys } from '../contract/provider-keys';

type AdapterFactory = (id: string, config: ProviderConfig, deps: AdapterDeps) => ProviderAdapter;

/** One factory per provider `type`; vendors are added here and nowhere else. */
const FACTORIES: Record<ProviderType, AdapterFactory> = {
  simulated: (id, config) => new SimulatedAdapter(id, config),
  openai: (id, config, deps) => new OpenAiAdapter(id, config, deps),
  openrouter: (id, config, deps) => new OpenRouterAdapter(id, config, deps),
  'openai-compatible': (id, config, deps) => new OpenAiCompatibleAdapter(id, config, deps),
  ollama: (id, config, deps) => new OllamaAdapter(id, config, deps),
  anthropic: (id, config, deps) => new AnthropicAdapter(id, config, deps),
  google: (id, config, deps) => new GoogleAdapter(id, config, deps),
};

/** Non-streaming upstream bodies may be this much larger than the text a completion may hold. */
const RESPONSE_OVERHEAD = 4;

/** The enabled provider instances, built from `providers` at boot, with every model entry checked. */
@Injectable()
export class ProviderRegistry implements OnApplicationShutdown {
  private readonly adapters = new Map<string, ProviderAdapter>();
  private readonly ids: ReadonlySet<string>;
  readonly pools: UpstreamPools;

  constructor(config: AppConfig) {
    const { connection_pool_size, max_memory_per_stream } = config.streaming.performance;
    this.pools = new UpstreamPools(connection_pool_size);
    const deps: AdapterDeps = {
      pools: this.pools,
      maxResponseBytes: max_memory_per_stream * RESPONSE_OVERHEAD,
    };
    for (const [id, provider] of config.providers) {
      if (!provider.enabled) continue;
      this.adapters.set(id, FACTORIES[provider.type](id, provider, deps));
    }
    const problems = config.models.flatMap((model, i) => {
      const adapter = this.adapters.get(model.provider);
      return adapter ? adapter.checkModel(model).map((problem) => `models[${i}].${problem}`) : [];
    });
    if (problems.length > 0) throw new ConfigError(problems);
    this.ids = new Set(this.adapters.keys());
  }

  get(id: string): ProviderAdapter | undefined {
    return this.adapters.get(id);
  }

  all(): ProviderAdapter[] {
    return [...this.adapters.values()];
  }

  /**
   * The caller's own keys from the X-Provider-Key header, or from the message field `field` (throws a request
   * error when malformed).
   */
  parseKeys(header: string | undefined, field?: string): ProviderKeys | undefined {
    return ProviderKeys.parse(header, this.ids, field);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.all().flatMap((adapter) => (adapter.close ? [adapter.close()] : [])));
    await this.pools.close();
  }
}
