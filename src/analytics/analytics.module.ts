import { Global, Module } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** Metrics everywhere (`/metrics` itself is the admin edge's). */
@Global()
@Module({
  providers: [MetricsService],
  exports: [MetricsService],
})
export class AnalyticsModule {}
