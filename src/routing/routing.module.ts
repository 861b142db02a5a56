import { Module } from '@nestjs/common';
import { AdminModule } from '../admin/admin.module';
import { ProvidersModule } from '../providers/providers.module';
import { CircuitBreakerService } from './circuit-breaker.service';
import { CircuitsController } from './circuits.controller';
import { RoutingService } from './routing.service';

@Module({
  imports: [ProvidersModule, AdminModule],
  controllers: [CircuitsController],
  providers: [RoutingService, CircuitBreakerService],
  exports: [RoutingService, CircuitBreakerService],
})
export class RoutingModule {}
