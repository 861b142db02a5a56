import type { ProviderType } from '../../src/config/app-config';
import type { ConfigLayer } from '../../src/config/config.loader';
import { anthropicWire } from '../fakes/anthropic.fake';
import type { RecordedRequest } from '../../src/providers/testing/fake-upstream';
import { googleWire } from '../fakes/google.fake';
import { ollamaWire } from '../fakes/ollama.fake';
import { openAiWire } from '../fakes/openai.fake';
import { type ErrorKind, VendorFake, type VendorWire } from '../fakes/vendor-fake';
import { withModels } from './app';

/** What the router's client must see for a vendor's HTTP error of each kind. */
export interface ExpectedError {
  status: number;
  code: string;
  type: string;
}

/** One vendor as the shared provider e2e suite drives it. */
export interface VendorCase {
  /** Provider id in the test config, and the model prefix (`<name>/test-model`). */
  name: string;
  type: ProviderType;
  wire: VendorWire;
  /** Path appended to the fake's URL to make the provider's base_url. */
  basePath: string;
  /** The upstream model name the catalogue maps `<name>/test-model` to. */
  upstreamModel: string;
  /** Vendors that need no key (Ollama, self-hosted OpenAI-compatible servers) skip the missing-key tests. */
  usesKey: boolean;
  /** Tool call arguments arrive in fragments (OpenAI, Anthropic) or whole (Gemini, Ollama). */
  streamsToolArguments: boolean;
  errors: Partial<Record<ErrorKind, ExpectedError>>;
  /** Checks the recorded upstream request of a streamed completion (path, auth header, translated body). */
  checkStreamRequest(request: RecordedRequest, apiKey: string): void;
}

export const TEST_KEY = 'sk-test-key-do-not-log-0123456789';

const AUTH: ExpectedError = { status: 401, code: 'authentication_failed', type: 'authentication_error' };
const RATE: ExpectedError = { status: 429, code: 'rate_limit_exceeded', type: 'rate_limit_error' };
const UPSTREAM: ExpectedError = { status: 502, code: 'provider_error', type: 'upstream_error' };
const BAD: ExpectedError = { status: 400, code: 'bad_request', type: 'invalid_request_error' };

/** What a vendor's HTTP error of each kind becomes for the client (the same for every vendor but Anthropic). */
const VENDOR_ERRORS: VendorCase['errors'] = {
  auth: AUTH,
  forbidden: AUTH,
  rate_limit: RATE,
  overloaded: UPSTREAM,
  server: UPSTREAM,
  unavailable: UPSTREAM,
  bad_request: BAD,
  not_found: UPSTREAM,
};

/** An OpenAI-wire vendor case: the request goes to `/chat/completions` with a Bearer key and usage asked for. */
function openAiCase(
  vendor: Pick<VendorCase, 'name' | 'type' | 'basePath' | 'upstreamModel' | 'usesKey'>,
): VendorCase {
  return {
    ...vendor,
    wire: openAiWire,
    streamsToolArguments: true,
    errors: VENDOR_ERRORS,
    checkStreamRequest(request, apiKey) {
      expect(request.method).toBe('POST');
      expect(request.path).toMatch(/\/chat\/completions$/);
      expect(request.headers.authorization).toBe(`Bearer ${apiKey}`);
      expect(request.body).toMatchObject({
        model: vendor.upstreamModel,
        stream: true,
        stream_options: { include_usage: true },
      });
    },
  };
}

export const OPENAI_CASES: VendorCase[] = [
  openAiCase({ name: 'openai', type: 'openai', basePath: '/v1', upstreamModel: 'gpt-4o', usesKey: true }),
  openAiCase({
    name: 'openrouter',
    type: 'openrouter',
    basePath: '/api/v1',
    upstreamModel: 'anthropic/claude-sonnet-4.5',
    usesKey: true,
  }),
  openAiCase({
    name: 'vllm',
    type: 'openai-compatible',
    basePath: '/v1',
    upstreamModel: 'Qwen/Qwen3-8B',
    usesKey: false,
  }),
];

/** Fast timeouts so stall tests finish quickly. */
export const TEST_TIMEOUTS = { connect_timeout: '1s', first_byte_timeout: '400ms', idle_timeout: '400ms' };

/** Config for a provider `vendor.name` pointing at `fake`, with the model `<name>/test-model`. */
export function vendorLayer(
  vendor: VendorCase,
  fake: { url: string },
  options: { apiKey?: string | null; provider?: Record<string, unknown> } = {},
): ConfigLayer {
  const apiKey = options.apiKey === undefined ? TEST_KEY : options.apiKey;
  return {
    // These suites check how one vendor's failures are classified, so the router's own recovery (retries,
    // rate-limit waits, circuits) is off; test/failover.e2e-spec.ts and test/circuits.e2e-spec.ts cover it.
    streaming: { error_handling: { max_retries: 0, circuit_breaker_min_requests: 1_000_000 } },
    providers: {
      [vendor.name]: {
        type: vendor.type,
        base_url: `${fake.url}${vendor.basePath}`,
        ...(apiKey === null ? {} : { api_key: apiKey }),
        ...TEST_TIMEOUTS,
        ...options.provider,
      },
    },
    ...withModels([], {
      id: `${vendor.name}/test-model`,
      provider: vendor.name,
      upstream: vendor.upstreamModel,
      aliases: [`${vendor.name}-alias`],
      context_length: 128000,
      pricing: { prompt: 2.5, completion: 10 },
    }),
  };
}

export function startFake(vendor: VendorCase): Promise<VendorFake> {
  return new VendorFake(vendor.wire).start();
}

/** Ollama answers with `{"error":"<text>"}` bodies; 404 means the model is not pulled (not the client's fault). */
export const OLLAMA_CASES: VendorCase[] = [
  {
    name: 'ollama',
    type: 'ollama',
    wire: ollamaWire,
    basePath: '',
    upstreamModel: 'qwen3:8b',
    usesKey: false,
    streamsToolArguments: false,
    errors: VENDOR_ERRORS,
    checkStreamRequest(request, apiKey) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/api/chat');
      // Ollama needs no key; one that is configured goes to the auth proxy in front of it as Bearer.
      expect(request.headers.authorization).toBe(`Bearer ${apiKey}`);
      expect(request.headers.accept).toBe('application/x-ndjson');
      expect(request.body).toMatchObject({ model: 'qwen3:8b', stream: true });
      expect(request.body).not.toHaveProperty('stream_options');
    },
  },
];

/** Anthropic Messages: 529 overloaded is a rate limit to the router (retry later or elsewhere), not a 5xx. */
export const ANTHROPIC_CASES: VendorCase[] = [
  {
    name: 'anthropic',
    type: 'anthropic',
    wire: anthropicWire,
    basePath: '/v1',
    upstreamModel: 'claude-sonnet-4-5',
    usesKey: true,
    streamsToolArguments: true,
    errors: { ...VENDOR_ERRORS, overloaded: RATE },
    checkStreamRequest(request, apiKey) {
      expect(request.method).toBe('POST');
      expect(request.path).toMatch(/\/v1\/messages$/);
      expect(request.headers['x-api-key']).toBe(apiKey);
      expect(request.headers.authorization).toBeUndefined();
      expect(request.headers['anthropic-version']).toBe('2023-06-01');
      expect(request.body).toMatchObject({ model: 'claude-sonnet-4-5', stream: true });
      expect(typeof (request.body as { max_tokens?: unknown }).max_tokens).toBe('number');
    },
  },
];

/** Gemini answers a bad key with 400 INVALID_ARGUMENT + ErrorInfo API_KEY_INVALID: still authentication_failed. */
export const GOOGLE_CASES: VendorCase[] = [
  {
    name: 'google',
    type: 'google',
    wire: googleWire,
    basePath: '/v1beta',
    upstreamModel: 'gemini-2.5-flash',
    usesKey: true,
    streamsToolArguments: false,
    errors: VENDOR_ERRORS,
    checkStreamRequest: (request, key) => {
      expect(request.method).toBe('POST');
      expect(request.path).toMatch(/\/v1beta\/models\/gemini-2\.5-flash:streamGenerateContent$/);
      expect(request.query.get('alt')).toBe('sse');
      expect(request.headers['x-goog-api-key']).toBe(key);
      expect(request.headers.authorization).toBeUndefined();
      expect(request.body).toMatchObject({
        contents: expect.arrayContaining([
          { role: 'user', parts: expect.arrayContaining([{ text: expect.any(String) }]) },
        ]),
      });
    },
  },
];
