import { Module } from '@nestjs/common';
import { ModelCatalogue } from './model-catalogue.service';
import { ModelDiscovery } from './model-discovery.service';
import { ProviderRegistry } from './provider-registry.service';

@Module({
  providers: [ProviderRegistry, ModelCatalogue, ModelDiscovery],
  exports: [ProviderRegistry, ModelCatalogue],
})
export class ProvidersModule {}
