import type { RoutingStrategy } from '../config/app-config';
import type { CatalogueEntry } from '../providers/model-catalogue.service';
import { type ChatCompletionRequest, maxOutputTokens, messageText } from '../contract/chat-request';

/** What a strategy may consult besides the candidates themselves. */
export interface StrategyInputs {
  request: ChatCompletionRequest;
  /** Measured time to first token, undefined when never measured. */
  latencyMs(entry: CatalogueEntry): number | undefined;
  /** `weighted`: relative share per model id (default 1). */
  weights?: Readonly<Record<string, number>>;
  /** A number in [0, 1); tests pass a seeded one. */
  random?: () => number;
}

/** Output tokens assumed for the price estimate when the request sets no cap. */
const DEFAULT_OUTPUT_TOKENS = 512;

/**
 * Orders candidates, best first; the order is the failover chain. Sorting is stable, so ties keep the
 * configured order.
 */
export function orderByStrategy<T extends CatalogueEntry>(
  strategy: RoutingStrategy,
  candidates: readonly T[],
  inputs: StrategyInputs,
): T[] {
  switch (strategy) {
    case 'priority':
      return [...candidates];
    case 'lowest_cost': {
      const promptTokens = estimatePromptTokens(inputs.request);
      const outputTokens = maxOutputTokens(inputs.request) ?? DEFAULT_OUTPUT_TOKENS;
      return sortBy(candidates, (entry) => estimatedCost(entry, promptTokens, outputTokens));
    }
    case 'lowest_latency':
      // Unmeasured pairs first (so they get measured), then the fastest.
      return sortBy(candidates, (entry) => inputs.latencyMs(entry) ?? -1);
    case 'weighted':
      return weightedOrder(candidates, inputs.weights ?? {}, inputs.random ?? Math.random);
  }
}

/** USD for the request on this model from catalogue prices; Infinity when the model has no price. */
export function estimatedCost(entry: CatalogueEntry, promptTokens: number, outputTokens: number): number {
  const pricing = entry.model.pricing;
  if (!pricing) return Number.POSITIVE_INFINITY;
  return (pricing.prompt * promptTokens + pricing.completion * outputTokens) / 1e6;
}

/** About four characters per token, over the text of every message. */
export function estimatePromptTokens(request: ChatCompletionRequest): number {
  let chars = 0;
  for (const message of request.messages) chars += messageText(message).length;
  return Math.ceil(chars / 4);
}

function sortBy<T>(items: readonly T[], key: (item: T) => number): T[] {
  return items
    .map((item, index) => ({ item, index, key: key(item) }))
    .sort((a, b) => a.key - b.key || a.index - b.index)
    .map(({ item }) => item);
}

/**
 * A weighted random order (Efraimidis–Spirakis): the first pick follows the weights, and the rest still
 * follow as fallbacks. Weight 0 (or negative) never comes first but stays in the chain, last.
 */
function weightedOrder<T extends CatalogueEntry>(
  candidates: readonly T[],
  weights: Readonly<Record<string, number>>,
  random: () => number,
): T[] {
  return sortBy(candidates, (entry) => {
    const weight = weights[entry.model.id] ?? 1;
    if (!(weight > 0)) return Number.POSITIVE_INFINITY;
    // Larger u^(1/w) wins; sort ascending on its negation. 1 - random() is in (0, 1].
    return -Math.pow(1 - random(), 1 / weight);
  });
}
