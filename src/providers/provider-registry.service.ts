import { Injectable } from '@nestjs/common';
import { AppConfig, type ProviderConfig, type ProviderType } from '../config/app-config';
import { ConfigError } from '../config/config.loader';
import { SimulatedAdapter } from './adapters/simulated/simulated.adapter';
import type { ProviderAdapter } from './provider-adapter';

type AdapterFactory = (id: string, config: ProviderConfig) => ProviderAdapter;

/** One factory per provider `type`; vendors are added here and nowhere else. */
const FACTORIES: Record<ProviderType, AdapterFactory> = {
  simulated: (id, config) => new SimulatedAdapter(id, config),
};

/** The enabled provider instances, built from `providers` at boot, with every model entry checked. */
@Injectable()
export class ProviderRegistry {
  private readonly adapters = new Map<string, ProviderAdapter>();

  constructor(config: AppConfig) {
    for (const [id, provider] of config.providers) {
      if (provider.enabled) this.adapters.set(id, FACTORIES[provider.type](id, provider));
    }
    const problems = config.models.flatMap((model, i) => {
      const adapter = this.adapters.get(model.provider);
      return adapter ? adapter.checkModel(model).map((problem) => `models[${i}].${problem}`) : [];
    });
    if (problems.length > 0) throw new ConfigError(problems);
  }

  get(id: string): ProviderAdapter | undefined {
    return this.adapters.get(id);
  }

  all(): ProviderAdapter[] {
    return [...this.adapters.values()];
  }
}
