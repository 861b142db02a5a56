import { type DynamicModule, Global, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import type { AppConfig } from '../config/app-config';
import { MetricsService } from './metrics.service';
import { MetricsController } from './metrics.controller';

/** Metrics everywhere; `/metrics` only when `streaming.monitoring.metrics_enabled`. */
@Global()
@Module({})
export class AnalyticsModule {
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
      module: AnalyticsModule,
      imports: exposition,
      providers: [MetricsService],
      exports: [MetricsService],
    };
  }
}
