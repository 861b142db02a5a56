import { Injectable } from '@nestjs/common';
import { type CatalogueEntry, ModelCatalogue } from '../providers/model-catalogue.service';
import type { ChatCompletionRequest } from '../streaming/chat-request';

/** A provider and catalogue model to try for a request. */
export type RouteTarget = CatalogueEntry;

/**
 * Picks the provider chain for a request. Today: the catalogue entry of the requested model. Strategies,
 * fallbacks and circuit state plug in here without touching edges or adapters.
 */
@Injectable()
export class RoutingService {
  constructor(private readonly catalogue: ModelCatalogue) {}

  plan(request: ChatCompletionRequest): RouteTarget[] {
    return [this.catalogue.resolve(request.model)];
  }
}
