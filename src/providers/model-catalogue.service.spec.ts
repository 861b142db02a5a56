import { RequestErrorCode } from '../contract/error-code';
import { loadConfig } from '../config/config.loader';
import { ModelCatalogue } from './model-catalogue.service';
import { ProviderRegistry } from './provider-registry.service';

function catalogueWith(providers: Record<string, unknown>, models: Array<Record<string, unknown>> = []) {
  const config = loadConfig({ env: {}, overrides: [{ providers, models: { $replace: models } }] });
  const registry = new ProviderRegistry(config);
  return { catalogue: new ModelCatalogue(config, registry), registry };
}

const OPENAI = { type: 'openai', api_key: 'sk-test', base_url: 'http://127.0.0.1:9/v1' };
const GPT = { id: 'openai/gpt-4o', provider: 'openai', upstream: 'gpt-4o', aliases: ['gpt-4o'] };

describe('ModelCatalogue', () => {
  it('resolves ids and aliases of configured models', () => {
    const { catalogue } = catalogueWith({ openai: OPENAI }, [GPT]);
    expect(catalogue.resolve('gpt-4o').model.upstream).toBe('gpt-4o');
    expect(catalogue.resolve('openai/gpt-4o').source).toBe('config');
    expect(catalogue.list().map((e) => e.model.id)).toEqual(['openai/gpt-4o']);
  });

  it('resolves but does not list models of a provider without credentials', () => {
    const { catalogue } = catalogueWith({ openai: { type: 'openai', base_url: 'http://127.0.0.1:9/v1' } }, [
      GPT,
    ]);
    expect(catalogue.resolve('openai/gpt-4o').adapter.configured).toBe(false);
    expect(catalogue.list()).toEqual([]);
  });

  it('passes <provider>/<any model> through only for providers that allow it', () => {
    const { catalogue } = catalogueWith({
      openrouter: { type: 'openrouter', api_key: 'k', allow_any_model: true },
      openai: { ...OPENAI, allow_any_model: false },
    });
    const entry = catalogue.resolve('openrouter/meta-llama/llama-3.3-70b-instruct');
    expect(entry.model).toMatchObject({
      provider: 'openrouter',
      upstream: 'meta-llama/llama-3.3-70b-instruct',
    });
    expect(entry.source).toBe('passthrough');
    expect(catalogue.list()).toEqual([]);
    expect(() => catalogue.resolve('openai/gpt-5')).toThrow(
      expect.objectContaining({ code: RequestErrorCode.ModelNotFound, param: 'model' }) as Error,
    );
    expect(() => catalogue.resolve('openrouter/')).toThrow();
  });

  it('adds, replaces and lists discovered models, configured entries first', () => {
    const { catalogue } = catalogueWith({ openai: OPENAI }, [GPT]);
    const model = (id: string, aliases: string[] = []) => ({
      id,
      provider: 'openai',
      upstream: id,
      aliases,
      options: {},
    });
    catalogue.setDiscovered('openai', [model('openai/a', ['a']), model('openai/gpt-4o')]);
    expect(catalogue.resolve('a').source).toBe('discovered');
    expect(catalogue.resolve('openai/gpt-4o').source).toBe('config');
    expect(catalogue.list().map((e) => e.model.id)).toEqual(['openai/gpt-4o', 'openai/a']);
    catalogue.setDiscovered('openai', [model('openai/b')]);
    expect(() => catalogue.resolve('a')).toThrow();
    expect(catalogue.list().map((e) => e.model.id)).toEqual(['openai/gpt-4o', 'openai/b']);
  });
});
