import { Injectable } from '@nestjs/common';
import { CompletionError, RequestErrorCode } from '../common/errors/error-code';
import { type CatalogueEntry, ModelCatalogue } from '../providers/model-catalogue.service';
import type { ProviderKeys } from '../providers/provider-keys';
import type { ChatCompletionRequest } from '../streaming/chat-request';

/** A provider and catalogue model to try for a request, with the caller's own key for it if one was sent. */
export interface RouteTarget extends CatalogueEntry {
  apiKey?: string;
}

/**
 * Picks the provider chain for a request. Today: the catalogue entry of the requested model, if its provider has
 * credentials (configured, or brought by the caller). Strategies, fallbacks and circuit state plug in here
 * without touching edges or adapters.
 */
@Injectable()
export class RoutingService {
  constructor(private readonly catalogue: ModelCatalogue) {}

  plan(request: ChatCompletionRequest, keys?: ProviderKeys): RouteTarget[] {
    const entry = this.catalogue.resolve(request.model);
    const apiKey = keys?.keyFor(entry.adapter.id);
    const missing = entry.adapter.missingCredentials(apiKey);
    if (missing) throw new CompletionError(RequestErrorCode.ProviderKeyMissing, missing, { param: 'model' });
    return [{ ...entry, apiKey }];
  }
}
