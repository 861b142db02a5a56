import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { AppConfig } from '../config/app-config';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { DeadLetterService } from '../dead-letter/dead-letter.service';
import { RedisService } from '../redis/redis.service';
import { CircuitBreakerService } from '../routing/circuit-breaker.service';
import { ProviderHealth } from '../routing/provider-health.service';

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

/**
 * Provider health as readiness detail: providers whose configured key the vendor refused, open circuits, and
 * dead letters waiting in the local spool for Redis.
 * Always up: a node whose providers fail can still route to others, and taking it out of rotation would not
 * help.
 */
@Injectable()
export class ProvidersHealthIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    private readonly health: ProviderHealth,
    private readonly circuits: CircuitBreakerService,
    private readonly deadLetters: DeadLetterService,
  ) {}

  async check(key: string) {
    const session = this.indicator.check(key);
    const misconfigured = this.health.misconfigured();
    const circuits = await this.circuits.list().catch(() => undefined);
    const unwell = circuits
      ?.filter((c) => c.state !== 'closed')
      .map(({ provider, model, state, retryAt }) => ({ provider, model, state, retryAt }));
    return session.up({
      misconfigured,
      circuits: unwell ?? 'unknown (Redis unreachable)',
      deadLettersSpooled: this.deadLetters.spooled,
    });
  }
}
