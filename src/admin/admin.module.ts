import { type DynamicModule, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import type { AppConfig } from '../config/app-config';
import { DeadLetterModule } from '../dead-letter/dead-letter.module';
import { RoutingModule } from '../routing/routing.module';
import { StreamingModule } from '../streaming/streaming.module';
import { CircuitsController } from './circuits.controller';
import { DeadLetterReplayService } from './dead-letter-replay.service';
import { DeadLettersController } from './dead-letters.controller';
import { MetricsController } from './metrics.controller';
import { RevocationsController } from './revocations.controller';
import { RoutingAdminController } from './routing-admin.controller';
import { StreamsController } from './streams.controller';

/**
 * The operator edge: `/admin/dead-letters` (and the replay worker), `/admin/circuits`, `/admin/routing`,
 * `/admin/revocations`, `/admin/streams`, and `/metrics` when `streaming.monitoring.metrics_enabled`.
 */
@Module({})
export class AdminModule {
  static forRoot(config: AppConfig): DynamicModule {
    const exposition = config.streaming.monitoring.metrics_enabled
      ? [
          PrometheusModule.register({
            path: '/metrics',
            defaultMetrics: { enabled: false },
            controller: MetricsController,
          }),
        ]
      : [];
    return {
      module: AdminModule,
      imports: [DeadLetterModule, RoutingModule, StreamingModule, ...exposition],
      controllers: [
        DeadLettersController,
        CircuitsController,
        RoutingAdminController,
        RevocationsController,
        StreamsController,
      ],
      providers: [DeadLetterReplayService],
    };
  }
}
