import { RequestErrorCode } from './error-code';
import { ProviderKeys } from './provider-keys';

const IDS = new Set(['openai', 'anthropic']);

describe('ProviderKeys (X-Provider-Key)', () => {
  it('uses a bare key for any provider', () => {
    const keys = ProviderKeys.parse(' sk-mine ', IDS);
    expect(keys?.keyFor('openai', 'openai')).toBe('sk-mine');
    expect(keys?.keyFor('anthropic', 'openai')).toBeUndefined();
  });

  it('uses provider=key pairs per provider, and nothing for providers not named', () => {
    const keys = ProviderKeys.parse('openai=sk-o, anthropic=sk-ant-a==', IDS);
    expect(keys?.keyFor('openai', undefined)).toBe('sk-o');
    expect(keys?.keyFor('anthropic', undefined)).toBe('sk-ant-a==');
    expect(ProviderKeys.parse('openai=sk-o', IDS)?.keyFor('anthropic', 'anthropic')).toBeUndefined();
  });

  it('reads a key containing = whose prefix is not a provider id as a bare key', () => {
    expect(ProviderKeys.parse('abc==', IDS)?.keyFor('openai', 'openai')).toBe('abc==');
  });

  it('ignores an empty header and rejects control characters', () => {
    expect(ProviderKeys.parse('  ', IDS)).toBeUndefined();
    expect(ProviderKeys.parse(undefined, IDS)).toBeUndefined();
    expect(() => ProviderKeys.parse('sk-a\nb', IDS)).toThrow(
      expect.objectContaining({ code: RequestErrorCode.InvalidRequest }) as Error,
    );
  });
});
