import { FakeUpstream, type RecordedRequest } from './fake-upstream';
import { type ModelConfig, ProviderConfig } from '../../config/app-config';
import type { ChatCompletionRequest } from '../../contract/chat-request';
import type { StreamEvent } from '../../contract/stream-event';
import type { AdapterDeps } from '../http/http-provider.adapter';
import { UpstreamPools } from '../http/upstream-pools';
import type { ProviderAdapter, ProviderStreamRequest } from '../provider-adapter';
import { ProviderError } from '../provider.error';

/** What a completion gave: its events, and the ProviderError it failed with, if any. */
export interface Collected {
  events: StreamEvent[];
  error?: ProviderError;
}

/** Streams one request through an adapter; any error other than a ProviderError is rethrown. */
export async function collect(
  adapter: ProviderAdapter,
  request: Omit<ProviderStreamRequest, 'signal'> & { signal?: AbortSignal },
): Promise<Collected> {
  const events: StreamEvent[] = [];
  try {
    for await (const event of adapter.stream({ signal: new AbortController().signal, ...request })) {
      events.push(event);
    }
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    return { events, error };
  }
  return { events };
}

/** One canned HTTP answer of the fake upstream. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}

export interface AdapterHarnessOptions<A extends ProviderAdapter> {
  /** Builds the adapter under test. */
  create(config: ProviderConfig, deps: AdapterDeps): A;
  /** Provider config (type, api_key...); `base_url` is the fake's URL plus `basePath` unless this sets one. */
  config: Partial<ProviderConfig>;
  basePath?: string;
  /** Headers every reply carries (a reply's own headers win). */
  headers?: Record<string, string>;
  model: ModelConfig;
  completionId: string;
  /** The request body every completion starts from. */
  body: ChatCompletionRequest;
}

/**
 * An adapter over a real socket: a loopback FakeUpstream answers with the replies a test queues (one per request,
 * in order) and records every request, so the headers sent and the HTTP error classification are those the router
 * really gets. Create it at the top of a spec file: it starts before the tests, forgets replies and requests
 * before each one, and closes after them. Its methods are bound: `const { adapter, collect } = harness` works.
 */
export class AdapterHarness<A extends ProviderAdapter> {
  readonly upstream: FakeUpstream;
  readonly pools = new UpstreamPools(4);

  constructor(private readonly options: AdapterHarnessOptions<A>) {
    this.upstream = new FakeUpstream(() => ({
      status: 418,
      headers: { 'content-type': 'text/plain' },
      steps: [{ write: 'adapter harness: no reply was queued for this request' }],
    }));
    beforeAll(async () => {
      await this.upstream.start();
    });
    afterAll(async () => {
      await this.pools.close();
      await this.upstream.close();
    });
    beforeEach(() => this.upstream.reset());
  }

  /** The provider's base URL on the fake. */
  get baseUrl(): string {
    return `${this.upstream.url}${this.options.basePath ?? ''}`;
  }

  /** The requests the fake received in this test, in order. */
  get requests(): RecordedRequest[] {
    return this.upstream.requests;
  }

  /** Queues replies for the next requests, one each. */
  readonly reply = (...replies: Reply[]): void => {
    const defaults = this.options.headers ?? {};
    this.upstream.enqueue(
      ...replies.map((reply) => () => ({
        status: reply.status,
        headers: { ...defaults, ...reply.headers },
        steps: [{ write: reply.body }],
      })),
    );
  };

  /** The adapter under test against the fake, with `overrides` on its config. */
  readonly adapter = (overrides: Partial<ProviderConfig> = {}): A => {
    const config = Object.assign(new ProviderConfig(), {
      base_url: this.baseUrl,
      ...this.options.config,
      ...overrides,
    });
    return this.options.create(config, { pools: this.pools, maxResponseBytes: 1 << 20 });
  };

  /** Streams the default request, with `body` over it, through `target`. */
  readonly collect = (
    target: A,
    body: Partial<ChatCompletionRequest> = {},
    apiKey?: string,
  ): Promise<Collected> => {
    const { model, completionId } = this.options;
    return collect(target, { completionId, model, body: { ...this.options.body, ...body }, apiKey });
  };

  /** The events of a completion that must succeed. */
  readonly events = async (
    target: A,
    body: Partial<ChatCompletionRequest> = {},
    apiKey?: string,
  ): Promise<StreamEvent[]> => {
    const { events, error } = await this.collect(target, body, apiKey);
    if (error) throw error;
    return events;
  };

  /** The ProviderError a completion must fail with. */
  readonly failure = async (
    target: A,
    body: Partial<ChatCompletionRequest> = {},
    apiKey?: string,
  ): Promise<ProviderError> => {
    const { error } = await this.collect(target, body, apiKey);
    if (!error) throw new Error('the stream did not fail');
    return error;
  };
}
