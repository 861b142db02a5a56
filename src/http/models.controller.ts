import { Controller, Get, Param } from '@nestjs/common';
import { ModelCatalogue, type CatalogueEntry } from '../providers/model-catalogue.service';
import { RoutingService, type VirtualModelView } from '../routing/routing.service';
import { Authenticated } from '../auth/access.decorators';

interface OpenAiModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  /** OpenRouter-style extras. */
  context_length: number | null;
  pricing: { prompt: string; completion: string } | null;
  aliases: string[];
  /** Virtual models: the strategy and the models it orders (those that can serve now). */
  routing?: { strategy: string; models: string[] };
  description?: string;
}

const BOOTED_AT = Math.floor(Date.now() / 1000);

/** OpenAI's model list (`GET /v1/models`) and retrieve (`GET /v1/models/{provider}/{model}`). */
@Controller('v1/models')
@Authenticated()
export class ModelsController {
  constructor(
    private readonly catalogue: ModelCatalogue,
    private readonly routing: RoutingService,
  ) {}

  @Get()
  list(): { object: 'list'; data: OpenAiModel[] } {
    const virtual = this.routing.listedVirtualModels().map(toVirtualModel);
    return { object: 'list', data: [...virtual, ...this.catalogue.list().map(toOpenAiModel)] };
  }

  /** Model ids contain a slash, so the id is the rest of the path (Fastify's `*` wildcard). */
  @Get('*')
  retrieve(@Param('*') id: string): OpenAiModel {
    const virtual = this.routing.virtualModels().find((v) => v.id === id);
    return virtual ? toVirtualModel(virtual) : toOpenAiModel(this.catalogue.resolve(id));
  }
}

function toVirtualModel(virtual: VirtualModelView): OpenAiModel {
  return {
    id: virtual.id,
    object: 'model',
    created: BOOTED_AT,
    owned_by: 'circuit-breaker',
    context_length: null,
    pricing: null,
    aliases: [],
    routing: { strategy: virtual.strategy, models: virtual.serving },
    ...(virtual.description ? { description: virtual.description } : {}),
  };
}

function toOpenAiModel({ model, adapter }: CatalogueEntry): OpenAiModel {
  return {
    id: model.id,
    object: 'model',
    created: BOOTED_AT,
    owned_by: adapter.id,
    context_length: model.context_length ?? null,
    pricing: model.pricing
      ? { prompt: perToken(model.pricing.prompt), completion: perToken(model.pricing.completion) }
      : null,
    aliases: model.aliases,
  };
}

/** USD per million tokens -> USD per token as a decimal string, as OpenRouter lists prices. */
function perToken(perMillion: number): string {
  return (perMillion / 1_000_000).toFixed(12).replace(/\.?0+$/, '') || '0';
}
