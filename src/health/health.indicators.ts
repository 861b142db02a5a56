import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { AppConfig } from '../config/app-config';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { RedisService } from '../redis/redis.service';

@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  /** PING within `redis.health_timeout`. */
  async check(key: string) {
    const session = this.indicator.check(key);
    const ping = await this.redis.ping(this.config.redis.health_timeout);
    return ping.up
      ? session.up({ latencyMs: ping.latencyMs })
      : session.down({ message: ping.error ?? 'unreachable' });
  }
}

@Injectable()
export class NodeHealthIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    private readonly lifecycle: LifecycleService,
  ) {}

  /** Down once the node has begun draining, so load balancers stop sending it work. */
  check(key: string) {
    const session = this.indicator.check(key);
    const phase = this.lifecycle.current;
    return this.lifecycle.ready ? session.up({ phase }) : session.down({ phase });
  }
}
