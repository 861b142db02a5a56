import { Controller, Get, UseFilters } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { HealthCheckFilter } from './health-check.filter';
import { NodeHealthIndicator, ProvidersHealthIndicator, RedisHealthIndicator } from './health.indicators';
import { Public } from '../auth/access.decorators';

/**
 * Kubernetes probes. Liveness is the process only; readiness needs Redis and a node that is not draining, and
 * reports provider health (refused keys, open circuits) as detail without failing on it.
 */
@Controller('health')
@Public()
@UseFilters(HealthCheckFilter)
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly redis: RedisHealthIndicator,
    private readonly node: NodeHealthIndicator,
    private readonly providers: ProvidersHealthIndicator,
  ) {}

  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.node.check('node'),
      () => this.redis.check('redis'),
      () => this.providers.check('providers'),
    ]);
  }
}
