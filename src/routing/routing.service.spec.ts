import pino from 'pino';
import { MetricsService } from '../analytics/metrics.service';
import { RequestErrorCode } from '../contract/error-code';
import { loadConfig } from '../config/config.loader';
import { ModelCatalogue } from '../providers/model-catalogue.service';
import { ProviderKeys } from '../contract/provider-keys';
import { ProviderRegistry } from '../providers/provider-registry.service';
import type { ChatCompletionRequest } from '../contract/chat-request';
import type { CircuitBreakerService } from './circuit-breaker.service';
import { LatencyTracker } from './latency-tracker.service';
import { ProviderHealth } from './provider-health.service';
import { RoutingService } from './routing.service';

const base = (url: string) => ({ base_url: url, api_key: 'sk-configured' });
const PROVIDERS = {
  openai: { type: 'openai', ...base('http://127.0.0.1:9/v1') },
  anthropic: { type: 'anthropic', ...base('http://127.0.0.1:9/v1') },
  google: { type: 'google', ...base('http://127.0.0.1:9/v1beta') },
  nokey: { type: 'anthropic', base_url: 'http://127.0.0.1:9/v1' },
};
const m = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  provider: id.split('/')[0],
  upstream: id.split('/')[1],
  ...extra,
});
const MODELS = [
  m('openai/gpt', {
    fallbacks: ['anthropic/claude', 'google/gemini'],
    pricing: { prompt: 2, completion: 8 },
  }),
  m('anthropic/claude', { pricing: { prompt: 3, completion: 15 } }),
  m('google/gemini', { pricing: { prompt: 0.3, completion: 2.5 } }),
  m('nokey/local', { aliases: ['local'] }),
];

function routing(extra: Record<string, unknown> = {}) {
  const config = loadConfig({ env: {}, overrides: [{ providers: PROVIDERS, models: MODELS }, extra] });
  const registry = new ProviderRegistry(config);
  const open = new Set<string>();
  const circuits = {
    isOpen: (p: string, model: string) => open.has(`${p}|${model}`),
  } as CircuitBreakerService;
  const latency = new LatencyTracker(config);
  const health = new ProviderHealth(new MetricsService(config), pino({ level: 'silent' }));
  const service = new RoutingService(
    config,
    new ModelCatalogue(config, registry),
    latency,
    circuits,
    health,
    pino({ level: 'silent' }),
  );
  const chain = (request: Partial<ChatCompletionRequest>, keys?: ProviderKeys) =>
    service
      .plan({ model: 'openai/gpt', messages: [{ role: 'user', content: 'hi' }], ...request }, keys)
      .map((t) => t.model.id);
  return { service, chain, open, latency, health, registry };
}

describe('RoutingService', () => {
  it('a model, then its configured fallbacks', () => {
    expect(routing().chain({})).toEqual(['openai/gpt', 'anthropic/claude', 'google/gemini']);
  });

  it("the request's models come before the configured fallbacks, duplicates once", () => {
    expect(routing().chain({ models: ['google/gemini', 'openai/gpt'] })).toEqual([
      'openai/gpt',
      'google/gemini',
      'anthropic/claude',
    ]);
  });

  it('names the bad entry of models[] when it does not exist', () => {
    expect(() => routing().chain({ models: ['google/gemini', 'nope/nope'] })).toThrow(
      expect.objectContaining({ code: RequestErrorCode.ModelNotFound, param: 'models[1]' }) as Error,
    );
  });

  it('provider preferences: only, ignore, order, allow_fallbacks and sort', () => {
    const { chain } = routing();
    expect(chain({ provider: { only: ['google', 'anthropic'] } })).toEqual([
      'anthropic/claude',
      'google/gemini',
    ]);
    expect(chain({ provider: { ignore: ['openai'] } })).toEqual(['anthropic/claude', 'google/gemini']);
    expect(chain({ provider: { order: ['google'] } })).toEqual([
      'google/gemini',
      'openai/gpt',
      'anthropic/claude',
    ]);
    expect(chain({ provider: { order: ['google', 'openai'], allow_fallbacks: false } })).toEqual([
      'google/gemini',
      'openai/gpt',
    ]);
    expect(chain({ provider: { allow_fallbacks: false } })).toEqual(['openai/gpt']);
    expect(chain({ provider: { sort: 'price' } })).toEqual([
      'google/gemini',
      'openai/gpt',
      'anthropic/claude',
    ]);
    expect(() => chain({ provider: { only: ['nobody'] } })).toThrow(
      expect.objectContaining({ code: RequestErrorCode.InvalidRequest, param: 'provider' }) as Error,
    );
  });

  it('a bare caller key is used by no member of a virtual model; a virtual model may be a fallback', () => {
    const { service, registry } = routing({
      routing: { virtual_models: [{ id: 'router/any', models: ['anthropic/claude', 'google/gemini'] }] },
      models: [...MODELS.slice(1), m('openai/gpt', { fallbacks: ['router/any'] })],
    });
    const keys = registry.parseKeys('sk-bare');
    expect(service.plan({ model: 'router/any', messages: [] }, keys).map((t) => t.apiKey)).toEqual([
      undefined,
      undefined,
    ]);
    expect(service.plan({ model: 'openai/gpt', messages: [] }).map((t) => t.model.id)).toEqual([
      'openai/gpt',
      'anthropic/claude',
      'google/gemini',
    ]);
  });

  it('virtual models order their members by their strategy', () => {
    const { chain, latency } = routing({
      routing: {
        virtual_models: [
          {
            id: 'router/cheap',
            strategy: 'lowest_cost',
            models: ['anthropic/claude', 'openai/gpt', 'google/gemini'],
          },
          { id: 'router/fast', strategy: 'lowest_latency', models: ['anthropic/claude', 'google/gemini'] },
        ],
      },
    });
    expect(chain({ model: 'router/cheap' })).toEqual(['google/gemini', 'openai/gpt', 'anthropic/claude']);
    latency.record('anthropic', 'anthropic/claude', 200);
    latency.record('google', 'google/gemini', 900);
    expect(chain({ model: 'router/fast' })).toEqual(['anthropic/claude', 'google/gemini']);
  });

  it('drops models whose provider has no key; fails with provider_key_missing when none is left', () => {
    const { chain } = routing();
    expect(chain({ model: 'openai/gpt', models: ['local'] })).toEqual([
      'openai/gpt',
      'anthropic/claude',
      'google/gemini',
    ]);
    expect(() => chain({ model: 'local' })).toThrow(
      expect.objectContaining({ code: RequestErrorCode.ProviderKeyMissing }) as Error,
    );
  });

  it("a bare caller key is only for the requested model's provider, never sent to another vendor", () => {
    const { service, registry } = routing();
    const keys = registry.parseKeys('sk-callers-openai-key');
    const plan = service.plan({ model: 'openai/gpt', messages: [{ role: 'user', content: 'hi' }] }, keys);
    expect(plan.map((t) => [t.adapter.id, t.apiKey])).toEqual([
      ['openai', 'sk-callers-openai-key'],
      ['anthropic', undefined],
      ['google', undefined],
    ]);
    const pairs = registry.parseKeys('anthropic=sk-ant-caller');
    expect(service.plan({ model: 'openai/gpt', messages: [] }, pairs).map((t) => t.apiKey)).toEqual([
      undefined,
      'sk-ant-caller',
      undefined,
    ]);
    expect(ProviderKeys.parse(undefined, new Set())).toBeUndefined();
    // Reordering the chain does not move the bare key to whichever vendor comes first.
    const keyOf = (request: Partial<ChatCompletionRequest>) =>
      service
        .plan({ model: 'openai/gpt', messages: [], ...request }, keys)
        .map((t) => `${t.adapter.id}:${t.apiKey ?? '-'}`);
    expect(keyOf({ provider: { order: ['anthropic'] } })).toEqual([
      'anthropic:-',
      'openai:sk-callers-openai-key',
      'google:-',
    ]);
    expect(keyOf({ provider: { sort: 'price' } })[0]).toBe('google:-');
    expect(keyOf({ provider: { sort: 'price', allow_fallbacks: false } })).toEqual([
      'openai:sk-callers-openai-key',
    ]);
  });

  it('open circuits and refused keys go to the end of the chain', () => {
    const { chain, open, health } = routing();
    open.add('openai|openai/gpt');
    expect(chain({})).toEqual(['anthropic/claude', 'google/gemini', 'openai/gpt']);
    health.flagMisconfigured('anthropic', 'refused');
    expect(chain({})).toEqual(['google/gemini', 'openai/gpt', 'anthropic/claude']);
  });
});
