import { ModelConfig } from '../config/app-config';
import { ProviderAdapterFake } from '../providers/provider-adapter.fake';
import type { CatalogueEntry } from '../providers/model-catalogue.service';
import type { ChatCompletionRequest } from '../contract/chat-request';
import { estimatePromptTokens, estimatedCost, orderByStrategy, type StrategyInputs } from './strategies';

function entry(id: string, pricing?: { prompt: number; completion: number }): CatalogueEntry {
  const model = Object.assign(new ModelConfig(), {
    id,
    provider: id.split('/')[0],
    upstream: id,
    options: {},
    pricing,
  });
  return { model, adapter: new ProviderAdapterFake([], id.split('/')[0]), source: 'config' };
}

const request: ChatCompletionRequest = {
  model: 'x',
  messages: [{ role: 'user', content: 'a'.repeat(4000) }],
};
const ids = (entries: CatalogueEntry[]) => entries.map((e) => e.model.id);
const inputs = (over: Partial<StrategyInputs> = {}): StrategyInputs => ({
  request,
  latencyMs: () => undefined,
  ...over,
});

describe('routing strategies', () => {
  const cheapPrompt = entry('a/cheap-prompt', { prompt: 0.1, completion: 10 });
  const cheapOutput = entry('b/cheap-output', { prompt: 5, completion: 0.5 });
  const unpriced = entry('c/unpriced');

  it('priority keeps the configured order', () => {
    expect(ids(orderByStrategy('priority', [unpriced, cheapPrompt], inputs()))).toEqual([
      'c/unpriced',
      'a/cheap-prompt',
    ]);
  });

  it('lowest_cost weighs prompt and output prices by the request, unpriced models last', () => {
    // 1000 prompt tokens: with a 10-token cap the prompt price dominates; with 100k tokens, the output price.
    const short = { ...request, max_tokens: 10 };
    const long = { ...request, max_tokens: 100_000 };
    expect(estimatePromptTokens(request)).toBe(1000);
    expect(
      ids(orderByStrategy('lowest_cost', [unpriced, cheapOutput, cheapPrompt], inputs({ request: short }))),
    ).toEqual(['a/cheap-prompt', 'b/cheap-output', 'c/unpriced']);
    expect(
      ids(orderByStrategy('lowest_cost', [cheapPrompt, cheapOutput], inputs({ request: long }))),
    ).toEqual(['b/cheap-output', 'a/cheap-prompt']);
    expect(estimatedCost(cheapPrompt, 1000, 10)).toBeCloseTo((0.1 * 1000 + 10 * 10) / 1e6);
  });

  it('lowest_latency puts unmeasured pairs first, then the fastest average', () => {
    const latency: Record<string, number> = { 'a/cheap-prompt': 300, 'b/cheap-output': 120 };
    const ordered = orderByStrategy(
      'lowest_latency',
      [cheapPrompt, cheapOutput, unpriced],
      inputs({ latencyMs: (e) => latency[e.model.id] }),
    );
    expect(ids(ordered)).toEqual(['c/unpriced', 'b/cheap-output', 'a/cheap-prompt']);
  });

  it('weighted picks first in proportion to the weights, keeps everyone as a fallback, weight 0 last', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const weights = { 'a/cheap-prompt': 3, 'b/cheap-output': 1, 'c/unpriced': 0 };
    const firsts: Record<string, number> = {};
    for (let i = 0; i < 4000; i++) {
      const order = orderByStrategy(
        'weighted',
        [cheapPrompt, cheapOutput, unpriced],
        inputs({ weights, random }),
      );
      expect(order).toHaveLength(3);
      expect(order[2]?.model.id).toBe('c/unpriced');
      const first = order[0]!.model.id;
      firsts[first] = (firsts[first] ?? 0) + 1;
    }
    const share = (firsts['a/cheap-prompt'] ?? 0) / 4000;
    expect(share).toBeGreaterThan(0.7);
    expect(share).toBeLessThan(0.8);
  });
});
