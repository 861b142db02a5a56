import { Controller, Get } from '@nestjs/common';
import { AdminOnly } from '../auth/access.decorators';
import { LatencyTracker } from '../routing/latency-tracker.service';
import { type Misconfiguration, ProviderHealth } from '../routing/provider-health.service';
import { RoutingService, type VirtualModelView } from '../routing/routing.service';

interface RoutingView {
  virtualModels: VirtualModelView[];
  /** This node's time-to-first-token averages, which `lowest_latency` ranks by. */
  latency: ReturnType<LatencyTracker['snapshot']>;
  misconfigured: Misconfiguration[];
}

/** What routing is deciding with, for operators. */
@Controller('admin/routing')
@AdminOnly()
export class RoutingAdminController {
  constructor(
    private readonly routing: RoutingService,
    private readonly latency: LatencyTracker,
    private readonly health: ProviderHealth,
  ) {}

  @Get()
  view(): { data: RoutingView } {
    return {
      data: {
        virtualModels: this.routing.virtualModels(),
        latency: this.latency.snapshot(),
        misconfigured: this.health.misconfigured(),
      },
    };
  }
}
