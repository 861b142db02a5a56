import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { ModelCatalogue } from './model-catalogue.service';
import type { ProviderAdapter } from './provider-adapter';
import { ProviderRegistry } from './provider-registry.service';

/** How long boot waits for a provider's model list before serving without it (it keeps refreshing). */
const BOOT_WAIT_MS = 3_000;

/**
 * Lists the models of providers that can (Ollama's /api/tags) at boot and every `discovery_interval`, into the
 * catalogue. A provider that cannot be reached keeps its last list; the failure is logged once per outage.
 */
@Injectable()
export class ModelDiscovery implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly failing = new Set<string>();
  private readonly controller = new AbortController();

  constructor(
    private readonly config: AppConfig,
    private readonly registry: ProviderRegistry,
    private readonly catalogue: ModelCatalogue,
    @Inject(ROOT_LOGGER) private readonly log: AppLogger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const discoverable = this.registry.all().filter((a) => a.discoverModels && a.configured);
    await Promise.all(discoverable.map((adapter) => this.refresh(adapter, BOOT_WAIT_MS)));
    for (const adapter of discoverable) {
      const interval = this.config.providers.get(adapter.id)?.discovery_interval ?? 0;
      if (interval > 0) {
        const timer = setInterval(() => void this.refresh(adapter, interval), interval);
        timer.unref();
        this.timers.push(timer);
      }
    }
  }

  onModuleDestroy(): void {
    this.controller.abort();
    for (const timer of this.timers) clearInterval(timer);
  }

  /** Fetches one provider's list; resolves either way. */
  async refresh(adapter: ProviderAdapter, timeoutMs: number): Promise<void> {
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      const models = await adapter.discoverModels!(signal);
      this.catalogue.setDiscovered(adapter.id, models);
      if (this.failing.delete(adapter.id) || models.length > 0) {
        this.log.info({ provider: adapter.id, models: models.length }, 'provider models discovered');
      }
    } catch (err) {
      if (this.controller.signal.aborted) return;
      if (!this.failing.has(adapter.id)) {
        this.failing.add(adapter.id);
        const message = err instanceof Error ? err.message : String(err);
        this.log.warn(
          { provider: adapter.id, reason: message },
          'provider model list unavailable; will retry',
        );
      }
    }
  }
}
