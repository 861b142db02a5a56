import { Injectable } from '@nestjs/common';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { AppConfig, type ModelConfig } from '../config/app-config';
import type { ProviderAdapter } from './provider-adapter';
import { ProviderRegistry } from './provider-registry.service';

export interface CatalogueEntry {
  model: ModelConfig;
  adapter: ProviderAdapter;
  /** Where the entry came from: config, the provider's own model list, or a pass-through request. */
  source: 'config' | 'discovered' | 'passthrough';
}

/** Pass-through entries are cached so repeated requests reuse them; the cache is bounded. */
const PASSTHROUGH_CACHE = 1000;

/**
 * Model ids and aliases -> the provider that serves them: configured models, models discovered from providers
 * that list theirs (Ollama), and `<provider>/<any model>` for providers with `allow_any_model`. Models of
 * disabled providers are unknown; models of providers without credentials resolve (so the request gets a clear
 * "no key" error, or uses the caller's own key) but are not listed.
 */
@Injectable()
export class ModelCatalogue {
  private readonly configured = new Map<string, CatalogueEntry>();
  private readonly configuredEntries: CatalogueEntry[] = [];
  private discovered = new Map<string, CatalogueEntry>();
  private readonly discoveredBy = new Map<string, CatalogueEntry[]>();
  private readonly passthrough = new Map<string, CatalogueEntry>();

  constructor(
    private readonly config: AppConfig,
    private readonly registry: ProviderRegistry,
  ) {
    for (const model of config.models) {
      const adapter = registry.get(model.provider);
      if (!adapter) continue;
      const entry: CatalogueEntry = { model, adapter, source: 'config' };
      this.configuredEntries.push(entry);
      for (const name of [model.id, ...model.aliases]) this.configured.set(name, entry);
    }
  }

  /** The entry for an id or alias, or a `model_not_found` error naming the `model` param. */
  resolve(name: string): CatalogueEntry {
    const entry = this.configured.get(name) ?? this.discovered.get(name) ?? this.passThrough(name);
    if (!entry) {
      throw new CompletionError(
        RequestErrorCode.ModelNotFound,
        `The model '${name.slice(0, 256)}' does not exist or is not available. GET /v1/models lists the models.`,
        { param: 'model' },
      );
    }
    return entry;
  }

  /** What GET /v1/models shows: models of providers that can serve without a per-request key. */
  list(): CatalogueEntry[] {
    const seen = new Set<string>();
    const out: CatalogueEntry[] = [];
    for (const entry of [...this.configuredEntries, ...[...this.discoveredBy.values()].flat()]) {
      if (!entry.adapter.configured || seen.has(entry.model.id)) continue;
      seen.add(entry.model.id);
      out.push(entry);
    }
    return out;
  }

  /** Replaces the models a provider listed of its own (called at boot and on every refresh). */
  setDiscovered(providerId: string, models: readonly ModelConfig[]): void {
    const adapter = this.registry.get(providerId);
    if (!adapter) return;
    this.discoveredBy.set(
      providerId,
      models.map((model) => ({ model, adapter, source: 'discovered' as const })),
    );
    const index = new Map<string, CatalogueEntry>();
    for (const entries of this.discoveredBy.values()) {
      for (const entry of entries) {
        for (const name of [entry.model.id, ...entry.model.aliases])
          if (!index.has(name)) index.set(name, entry);
      }
    }
    this.discovered = index;
  }

  private passThrough(name: string): CatalogueEntry | undefined {
    const cached = this.passthrough.get(name);
    if (cached) return cached;
    const slash = name.indexOf('/');
    if (slash <= 0 || slash === name.length - 1 || name.length > 256) return undefined;
    const providerId = name.slice(0, slash);
    const adapter = this.registry.get(providerId);
    if (!adapter || !this.config.providers.get(providerId)?.allow_any_model) return undefined;
    const model: ModelConfig = {
      id: name,
      provider: providerId,
      upstream: name.slice(slash + 1),
      aliases: [],
      options: {},
    };
    const entry: CatalogueEntry = { model, adapter, source: 'passthrough' };
    if (this.passthrough.size >= PASSTHROUGH_CACHE) this.passthrough.clear();
    this.passthrough.set(name, entry);
    return entry;
  }
}
