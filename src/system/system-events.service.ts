import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { DeadLetterService } from '../dead-letter/dead-letter.service';
import { CircuitBreakerService, type CircuitTransition } from '../routing/circuit-breaker.service';
import { ProviderHealth } from '../routing/provider-health.service';
import type { BusSubscription } from '../events/bus-subscription';
import { EventBus } from '../events/event-bus.service';
import { matcher, type Severity, type SystemEvent, type SystemEventMatch } from './system-event';

const TOPIC = 'system';

/**
 * Operational events for every node's `systemEvents` subscribers: provider health (a refused configured key,
 * and its recovery), circuit state changes, dead letters, and nodes starting and stopping. Each is published
 * once, by the node where it happened.
 */
@Injectable()
export class SystemEvents
  implements OnModuleInit, OnModuleDestroy, OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly unsubscribe: Array<() => void> = [];
  /** This node, as named in system events: the host (the pod in Kubernetes) and a per-boot suffix. */
  readonly node = `${hostname()}-${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly bus: EventBus,
    private readonly circuits: CircuitBreakerService,
    private readonly health: ProviderHealth,
    private readonly deadLetters: DeadLetterService,
  ) {}

  onModuleInit(): void {
    this.unsubscribe.push(
      this.circuits.onTransition((t, ours) => {
        if (ours) this.emit(circuitEvent(t));
      }),
      this.health.onChange((provider, flag) =>
        this.emit(
          flag
            ? {
                type: 'provider_health',
                severity: 'error',
                provider,
                message: `Provider ${provider} is misconfigured: ${flag.reason}`,
                data: { healthy: false, reason: flag.reason, since: flag.since },
              }
            : {
                type: 'provider_health',
                severity: 'info',
                provider,
                message: `Provider ${provider} answers on its configured key again.`,
                data: { healthy: true },
              },
        ),
      ),
      this.deadLetters.onRecorded((letter) => {
        const last = letter.attempts.at(-1);
        this.emit({
          type: 'dead_letter',
          severity: 'warning',
          message: `Completion ${letter.completionId} was dead-lettered: ${letter.errorKind}.`,
          ...(last ? { provider: last.provider, model: last.model } : {}),
          data: {
            deadLetterId: letter.id,
            completionId: letter.completionId,
            errorKind: letter.errorKind,
            chain: letter.chain,
            protocol: letter.protocol,
          },
        });
      }),
    );
  }

  onModuleDestroy(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  onApplicationBootstrap(): void {
    this.emit({ type: 'node_started', severity: 'info', message: `Node ${this.node} started.` });
  }

  beforeApplicationShutdown(signal?: string): void {
    this.emit({
      type: 'node_stopping',
      severity: 'warning',
      message: `Node ${this.node} is shutting down${signal ? ` (${signal})` : ''}; its streams are draining.`,
      ...(signal ? { data: { signal } } : {}),
    });
  }

  emit(event: Omit<SystemEvent, 'node'>): void {
    this.bus.publish<SystemEvent>(TOPIC, { ...event, node: this.node });
  }

  subscribe(match: SystemEventMatch, overflow: () => Error): Promise<BusSubscription<SystemEvent>> {
    return this.bus.subscribe<SystemEvent>(TOPIC, { replay: false, accept: matcher(match), overflow });
  }
}

function circuitEvent(t: CircuitTransition): Omit<SystemEvent, 'node'> {
  const severity: Severity = t.to === 'open' ? 'error' : t.to === 'half_open' ? 'warning' : 'info';
  const words = t.to === 'open' ? 'opened' : t.to === 'half_open' ? 'is half-open' : 'closed';
  return {
    type: 'circuit_state_changed',
    severity,
    provider: t.provider,
    model: t.model,
    message: `Circuit of ${t.model} on ${t.provider} ${words}.`,
    data: {
      from: t.from,
      to: t.to,
      at: t.at,
      ...(t.errorRate === undefined ? {} : { errorRate: t.errorRate }),
      ...(t.retryAt === undefined ? {} : { retryAt: t.retryAt }),
    },
  };
}
