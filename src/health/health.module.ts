import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { DeadLetterModule } from '../dead-letter/dead-letter.module';
import { RoutingModule } from '../routing/routing.module';
import { NodeHealthIndicator, ProvidersHealthIndicator, RedisHealthIndicator } from './health.indicators';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), RoutingModule, DeadLetterModule],
  controllers: [HealthController],
  providers: [RedisHealthIndicator, NodeHealthIndicator, ProvidersHealthIndicator],
})
export class HealthModule {}
