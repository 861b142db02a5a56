import { Inject, Injectable } from '@nestjs/common';
import { MetricsService } from '../analytics/metrics.service';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';

export interface Misconfiguration {
  provider: string;
  reason: string;
  since: string;
}

/**
 * Providers whose configured key the vendor refused (authentication_failed): flagged in metrics
 * (`cb_provider_misconfigured`) and in the readiness detail until a request on that key succeeds again.
 * Routing tries them last. A caller's own key (X-Provider-Key) failing flags nothing.
 */
@Injectable()
export class ProviderHealth {
  private readonly flagged = new Map<string, Misconfiguration>();
  private readonly listeners = new Set<(provider: string, flag: Misconfiguration | undefined) => void>();
  private readonly log: AppLogger;

  constructor(
    private readonly metrics: MetricsService,
    @Inject(ROOT_LOGGER) log: AppLogger,
  ) {
    this.log = log.child({ context: 'ProviderHealth' });
  }

  flagMisconfigured(provider: string, reason: string): void {
    if (this.flagged.has(provider)) return;
    this.flagged.set(provider, { provider, reason, since: new Date().toISOString() });
    this.metrics.providerMisconfigured.labels(provider).set(1);
    this.log.error(
      { provider, reason },
      'provider flagged as misconfigured: the vendor refused its configured key',
    );
    this.announce(provider, this.flagged.get(provider));
  }

  /** A success on the configured key clears the flag. */
  clear(provider: string): void {
    if (!this.flagged.delete(provider)) return;
    this.metrics.providerMisconfigured.labels(provider).set(0);
    this.log.info({ provider }, 'provider no longer flagged as misconfigured');
    this.announce(provider, undefined);
  }

  /** Hears every flag and clear: the flag, or undefined when cleared. Returns the unsubscribe. */
  onChange(listener: (provider: string, flag: Misconfiguration | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private announce(provider: string, flag: Misconfiguration | undefined): void {
    for (const listener of this.listeners) {
      try {
        listener(provider, flag);
      } catch (err) {
        this.log.error({ err }, 'provider health listener failed');
      }
    }
  }

  isMisconfigured(provider: string): boolean {
    return this.flagged.size > 0 && this.flagged.has(provider);
  }

  misconfigured(): Misconfiguration[] {
    return [...this.flagged.values()];
  }
}
