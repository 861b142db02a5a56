import { Module } from '@nestjs/common';
import { ModelCatalogue } from './model-catalogue.service';
import { ProviderRegistry } from './provider-registry.service';

@Module({
  providers: [ProviderRegistry, ModelCatalogue],
  exports: [ProviderRegistry, ModelCatalogue],
})
export class ProvidersModule {}
