import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { CircuitBreakerService } from './circuit-breaker.service';
import { RoutingService } from './routing.service';

@Module({
  imports: [ProvidersModule],
  providers: [RoutingService, CircuitBreakerService],
  exports: [RoutingService, CircuitBreakerService],
})
export class RoutingModule {}
