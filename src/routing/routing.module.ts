import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { CircuitBreakerService } from './circuit-breaker.service';
import { FailoverExecutor } from './failover-executor';
import { LatencyTracker } from './latency-tracker.service';
import { ProviderHealth } from './provider-health.service';
import { RoutingService } from './routing.service';

@Module({
  imports: [ProvidersModule],
  providers: [RoutingService, FailoverExecutor, LatencyTracker, ProviderHealth, CircuitBreakerService],
  exports: [RoutingService, FailoverExecutor, LatencyTracker, ProviderHealth, CircuitBreakerService],
})
export class RoutingModule {}
