import { Injectable } from '@nestjs/common';
import { CompletionError, RequestErrorCode } from '../common/errors/error-code';
import { AppConfig, type ModelConfig } from '../config/app-config';
import type { ProviderAdapter } from './provider-adapter';
import { ProviderRegistry } from './provider-registry.service';

export interface CatalogueEntry {
  model: ModelConfig;
  adapter: ProviderAdapter;
}

/** Model ids and aliases -> the provider that serves them. Models of disabled providers are not listed. */
@Injectable()
export class ModelCatalogue {
  private readonly byName = new Map<string, CatalogueEntry>();
  private readonly entries: CatalogueEntry[] = [];

  constructor(config: AppConfig, registry: ProviderRegistry) {
    for (const model of config.models) {
      const adapter = registry.get(model.provider);
      if (!adapter) continue;
      const entry = { model, adapter };
      this.entries.push(entry);
      for (const name of [model.id, ...model.aliases]) this.byName.set(name, entry);
    }
  }

  /** The entry for an id or alias, or a `model_not_found` error naming the `model` param. */
  resolve(name: string): CatalogueEntry {
    const entry = this.byName.get(name);
    if (!entry) {
      throw new CompletionError(
        RequestErrorCode.ModelNotFound,
        `The model '${name.slice(0, 256)}' does not exist or is not available. GET /v1/models lists the models.`,
        { param: 'model' },
      );
    }
    return entry;
  }

  list(): readonly CatalogueEntry[] {
    return this.entries;
  }
}
