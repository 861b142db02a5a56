import { CompletionError, RequestErrorCode } from './error-code';

/** The request header that carries the caller's own provider key(s). */
export const PROVIDER_KEY_HEADER = 'x-provider-key';

const MAX_HEADER = 8192;
const PAIR = /^([a-z0-9][a-z0-9_-]*)=(.+)$/i;

/**
 * Keys a caller brings for one request (bring your own key). The `X-Provider-Key` header holds either one bare
 * key, used for the provider of the requested model (and never sent to a fallback on another provider), or
 * `provider=key` pairs separated by commas
 * (`openai=sk-...,anthropic=sk-ant-...`) so a fallback chain can use a key per provider. A pair is recognised
 * only when its name is a configured provider id, so a bare key containing `=` is never misread.
 */
export class ProviderKeys {
  private constructor(
    private readonly bare: string | undefined,
    private readonly byProvider: ReadonlyMap<string, string>,
  ) {}

  /** `field`: the message field the value came in (WebSocket `providerKey`), named in the error; the header when absent. */
  static parse(
    header: string | undefined,
    providerIds: ReadonlySet<string>,
    field?: string,
  ): ProviderKeys | undefined {
    if (header === undefined) return undefined;
    const value = header.trim();
    if (value === '') return undefined;
    // eslint-disable-next-line no-control-regex
    if (value.length > MAX_HEADER || /[\x00-\x1f\x7f]/.test(value)) {
      const what = field === undefined ? `The ${PROVIDER_KEY_HEADER} header` : `'${field}'`;
      throw new CompletionError(
        RequestErrorCode.InvalidRequest,
        `${what} must be at most ${MAX_HEADER} printable characters.`,
        field === undefined ? undefined : { param: field },
      );
    }
    const pairs = new Map<string, string>();
    for (const item of value.split(',')) {
      const match = PAIR.exec(item.trim());
      if (match && providerIds.has(match[1]!)) pairs.set(match[1]!, match[2]!.trim());
    }
    if (pairs.size > 0) return new ProviderKeys(undefined, pairs);
    return new ProviderKeys(value, pairs);
  }

  /**
   * The key for a provider. A bare key belongs to `bareFor` only (the requested model's provider; undefined
   * for a virtual model, whose members may be any vendor), so it is never sent to another vendor.
   */
  keyFor(providerId: string, bareFor: string | undefined): string | undefined {
    return this.byProvider.get(providerId) ?? (providerId === bareFor ? this.bare : undefined);
  }
}
