import { Inject, Injectable } from '@nestjs/common';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig, type VirtualModelConfig } from '../config/app-config';
import { type CatalogueEntry, ModelCatalogue } from '../providers/model-catalogue.service';
import type { ProviderKeys } from '../contract/provider-keys';
import type { ChatCompletionRequest, ProviderPreferences } from '../contract/chat-request';
import { CircuitBreakerService } from './circuit-breaker.service';
import { LatencyTracker } from './latency-tracker.service';
import { ProviderHealth } from './provider-health.service';
import { orderByStrategy, type StrategyInputs } from './strategies';

/** A provider and catalogue model to try for a request, with the caller's own key for it if one was sent. */
export interface RouteTarget extends CatalogueEntry {
  apiKey?: string;
}

/** Virtual models and the catalogue ids routing knows, for GET /v1/models and the admin view. */
export interface VirtualModelView {
  id: string;
  strategy: string;
  /** The members as configured. */
  models: string[];
  /** The members that can serve now (their provider has its key and base URL); what GET /v1/models shows. */
  serving: string[];
  description?: string;
}

/**
 * Picks the provider chain for a request: the requested model (or a virtual model's members, ordered by its
 * strategy), then the request's own `models`, then each one's configured `fallbacks`; filtered and reordered
 * by the request's `provider` preferences; models whose provider has no key are dropped; providers known to
 * be failing (open circuit, refused key) go last. The FailoverExecutor walks the chain.
 */
@Injectable()
export class RoutingService {
  private readonly virtuals = new Map<string, VirtualModelConfig>();

  constructor(
    private readonly config: AppConfig,
    private readonly catalogue: ModelCatalogue,
    private readonly latency: LatencyTracker,
    private readonly circuits: CircuitBreakerService,
    private readonly health: ProviderHealth,
    @Inject(ROOT_LOGGER) log: AppLogger,
  ) {
    for (const virtual of config.routing.virtual_models) this.virtuals.set(virtual.id, virtual);
    const unknown = [
      ...config.routing.virtual_models.flatMap((v) => v.models.map((m) => `${v.id} -> ${m}`)),
      ...config.models.flatMap((m) => (m.fallbacks ?? []).map((f) => `${m.id} -> ${f}`)),
    ].filter((pair) => !this.knowsModel(pair.slice(pair.indexOf(' -> ') + 4)));
    if (unknown.length > 0)
      log.warn(
        { routes: unknown },
        'routes name models that do not resolve now; they are skipped until they do',
      );
    for (const view of this.virtualModels()) {
      if (view.serving.length > 0) log.info({ model: view.id, serving: view.serving }, 'virtual model');
      else log.warn({ model: view.id }, `${view.id} cannot serve yet: ${this.unconfigured(view.id)}`);
    }
  }

  plan(request: ChatCompletionRequest, keys?: ProviderKeys): RouteTarget[] {
    const heads: Array<{ name: string; param: string }> = [{ name: request.model, param: 'model' }];
    request.models?.forEach((name, i) => heads.push({ name, param: `models[${i}]` }));
    const inputs = this.strategyInputs(request);

    const chain: CatalogueEntry[] = [];
    const fallbacks: string[] = [];
    for (const { name, param } of heads) {
      for (const entry of this.expand(name, param, inputs)) {
        chain.push(entry);
        if (entry.model.fallbacks) fallbacks.push(...entry.model.fallbacks);
      }
    }
    for (const name of fallbacks) {
      if (this.virtuals.has(name)) chain.push(...this.expand(name, 'model', inputs));
      else {
        const entry = this.tryResolve(name);
        if (entry) chain.push(entry);
      }
    }

    // The requested model's own provider, before any reordering: a bare caller key is for it alone, and
    // `allow_fallbacks: false` without `order` keeps only it. A virtual model has none.
    const primaryProvider = this.virtuals.has(request.model) ? undefined : chain[0]?.adapter.id;
    const preferred = applyPreferences(dedupe(chain), request.provider, inputs, primaryProvider);
    const targets: RouteTarget[] = [];
    let missing: string | undefined;
    for (const entry of preferred) {
      const apiKey = keys?.keyFor(entry.adapter.id, primaryProvider);
      const problem = entry.adapter.missingCredentials(apiKey);
      if (problem) missing ??= problem;
      else targets.push({ ...entry, apiKey });
    }
    if (targets.length === 0) {
      throw new CompletionError(
        RequestErrorCode.ProviderKeyMissing,
        (primaryProvider === undefined && this.virtuals.has(request.model)
          ? this.unconfigured(request.model)
          : missing) ?? 'No provider can serve this model.',
        {
          param: 'model',
        },
      );
    }
    return this.demoteUnwell(targets);
  }

  virtualModels(): VirtualModelView[] {
    return [...this.virtuals.values()].map((v) => ({
      id: v.id,
      strategy: v.strategy ?? this.config.routing.strategy,
      models: v.models,
      serving: v.models.filter((member) => this.tryResolve(member)?.adapter.configured === true),
      description: v.description,
    }));
  }

  /** The virtual models model lists show (GET /v1/models, GraphQL `models`): those with a member that can serve. */
  listedVirtualModels(): VirtualModelView[] {
    return this.virtualModels().filter((v) => v.serving.length > 0);
  }

  /** Why none of a virtual model's members can serve, naming the keys that would open them. */
  private unconfigured(name: string): string {
    const members = this.virtuals.get(name)?.models ?? [];
    const providers = [...new Set(members.flatMap((member) => this.tryResolve(member)?.adapter.id ?? []))];
    const envs = providers.flatMap((id) => this.config.providers.get(id)?.api_key_env ?? []);
    const set = envs.length > 0 ? `set ${envs.join(', ')} or ` : '';
    const none = providers.length === 0 ? ' (none of its models resolves)' : '';
    return `No provider of ${name} is configured${none}: ${set}send your key in the X-Provider-Key header.`;
  }

  isVirtual(name: string): boolean {
    return this.virtuals.has(name);
  }

  private expand(name: string, param: string, inputs: StrategyInputs): CatalogueEntry[] {
    const virtual = this.virtuals.get(name);
    if (!virtual) return [this.resolve(name, param)];
    const members = virtual.models.flatMap((member) => {
      const entry = this.tryResolve(member);
      return entry ? [entry] : [];
    });
    const strategy = virtual.strategy ?? this.config.routing.strategy;
    return orderByStrategy(strategy, members, { ...inputs, weights: virtual.weights });
  }

  private resolve(name: string, param: string): CatalogueEntry {
    try {
      return this.catalogue.resolve(name);
    } catch (err) {
      if (err instanceof CompletionError && param !== 'model') {
        throw new CompletionError(err.code, err.message, { param });
      }
      throw err;
    }
  }

  private tryResolve(name: string): CatalogueEntry | undefined {
    try {
      return this.catalogue.resolve(name);
    } catch {
      return undefined;
    }
  }

  /** Whether a model id, alias or virtual model can be routed (its provider may still lack a key). */
  knowsModel(name: string): boolean {
    return this.virtuals.has(name) || this.tryResolve(name) !== undefined;
  }

  private strategyInputs(request: ChatCompletionRequest): StrategyInputs {
    return {
      request,
      latencyMs: (entry) => this.latency.averageMs(entry.adapter.id, entry.model.id),
    };
  }

  /** Open circuits and providers whose configured key was refused go to the end, in their order. */
  private demoteUnwell(targets: RouteTarget[]): RouteTarget[] {
    const well: RouteTarget[] = [];
    const unwell: RouteTarget[] = [];
    for (const target of targets) {
      const refusedKey = target.apiKey === undefined && this.health.isMisconfigured(target.adapter.id);
      if (refusedKey || this.circuits.isOpen(target.adapter.id, target.model.id)) unwell.push(target);
      else well.push(target);
    }
    return unwell.length === 0 ? targets : [...well, ...unwell];
  }
}

function dedupe(entries: CatalogueEntry[]): CatalogueEntry[] {
  const seen = new Set<string>();
  return entries.filter((entry) => {
    const key = `${entry.adapter.id}\u0000${entry.model.id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** OpenRouter's `provider` object: only / ignore select providers, sort reorders, order puts named providers first. */
function applyPreferences(
  chain: CatalogueEntry[],
  prefs: ProviderPreferences | undefined,
  inputs: StrategyInputs,
  primaryProvider: string | undefined,
): CatalogueEntry[] {
  if (!prefs) return chain;
  let out = chain;
  if (prefs.only) {
    const only = new Set(prefs.only);
    out = out.filter((entry) => only.has(entry.adapter.id));
  }
  if (prefs.ignore) {
    const ignore = new Set(prefs.ignore);
    out = out.filter((entry) => !ignore.has(entry.adapter.id));
  }
  if (prefs.sort)
    out = orderByStrategy(prefs.sort === 'price' ? 'lowest_cost' : 'lowest_latency', out, inputs);
  if (prefs.order === undefined && prefs.allow_fallbacks === false) {
    // No order given: no fallbacks means the requested model's own provider only (a virtual model's first).
    const primary = primaryProvider ?? out[0]?.adapter.id;
    out = out.filter((entry) => entry.adapter.id === primary);
  }
  if (prefs.order) {
    const rank = new Map(prefs.order.map((id, i) => [id, i]));
    if (prefs.allow_fallbacks === false) out = out.filter((entry) => rank.has(entry.adapter.id));
    out = out
      .map((entry, index) => ({ entry, index, rank: rank.get(entry.adapter.id) ?? rank.size }))
      .sort((a, b) => a.rank - b.rank || a.index - b.index)
      .map(({ entry }) => entry);
  }
  if (out.length === 0) {
    throw new CompletionError(
      RequestErrorCode.InvalidRequest,
      "No provider of the requested models is allowed by the request's provider preferences.",
      { param: 'provider' },
    );
  }
  return out;
}
