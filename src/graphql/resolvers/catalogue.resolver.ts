import { Query, Resolver } from '@nestjs/graphql';
import { ModelCatalogue } from '../../providers/model-catalogue.service';
import { ProviderRegistry } from '../../providers/provider-registry.service';
import { CircuitBreakerService, type CircuitView } from '../../routing/circuit-breaker.service';
import { LatencyTracker } from '../../routing/latency-tracker.service';
import { ProviderHealth } from '../../routing/provider-health.service';
import { RoutingService } from '../../routing/routing.service';
import { type Circuit, CircuitState, Model, Provider } from '../types/catalogue.types';
import { Authenticated, Requires } from '../../auth/access.decorators';

/** Read-only views: the models one can ask for, and how each provider is doing. */
@Resolver()
export class CatalogueResolver {
  constructor(
    private readonly catalogue: ModelCatalogue,
    private readonly routing: RoutingService,
    private readonly registry: ProviderRegistry,
    private readonly circuits: CircuitBreakerService,
    private readonly health: ProviderHealth,
    private readonly latency: LatencyTracker,
  ) {}

  @Query(() => [Model], { description: 'Virtual models, then the catalogue (as GET /v1/models lists them).' })
  @Authenticated()
  models(): Model[] {
    const virtual: Model[] = this.routing.listedVirtualModels().map((v) => ({
      id: v.id,
      ownedBy: 'circuit-breaker',
      aliases: [],
      contextLength: null,
      pricing: null,
      virtual: true,
      strategy: v.strategy,
      members: v.serving,
      fallbacks: [],
      description: v.description ?? null,
    }));
    const listed: Model[] = this.catalogue.list().map(({ model, adapter }) => ({
      id: model.id,
      ownedBy: adapter.id,
      aliases: model.aliases,
      contextLength: model.context_length ?? null,
      pricing: model.pricing ?? null,
      virtual: false,
      strategy: null,
      members: null,
      fallbacks: model.fallbacks ?? [],
      description: null,
    }));
    return [...virtual, ...listed];
  }

  @Query(() => [Provider], {
    description:
      'Every provider with its health: key refused, circuit states (shared by all nodes), latency.',
  })
  @Requires('system', 'read')
  async providers(): Promise<Provider[]> {
    const circuits = await this.circuits.list();
    const latency = this.latency.snapshot();
    const misconfigured = new Map(this.health.misconfigured().map((m) => [m.provider, m.reason]));
    return this.registry.all().map((adapter) => {
      const own = circuits.filter((c) => c.provider === adapter.id).map(toCircuit);
      const reason = misconfigured.get(adapter.id);
      return {
        id: adapter.id,
        type: adapter.type,
        configured: adapter.configured,
        healthy:
          adapter.configured && reason === undefined && !own.some((c) => c.state === CircuitState.OPEN),
        misconfigured: reason ?? null,
        circuits: own,
        latency: latency
          .filter((l) => l.provider === adapter.id)
          .map(({ model, ttftMs, samples }) => ({ model, ttftMs, samples })),
      };
    });
  }
}

function toCircuit(view: CircuitView): Circuit {
  return {
    model: view.model,
    state: view.state.toUpperCase() as CircuitState,
    requests: view.requests,
    failures: view.failures,
    errorRate: view.errorRate,
    openedAt: view.openedAt ? new Date(view.openedAt) : null,
    retryAt: view.retryAt ? new Date(view.retryAt) : null,
  };
}
