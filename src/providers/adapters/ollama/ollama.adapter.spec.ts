import { StreamErrorCode } from '../../../contract/error-code';
import { ModelConfig } from '../../../config/app-config';
import type { ProviderError } from '../../provider.error';
import { AdapterHarness, type Reply } from '../../testing/adapter-harness';
import { OllamaAdapter, ollamaModels } from './ollama.adapter';

const MODEL = Object.assign(new ModelConfig(), {
  id: 'ollama/qwen3:8b',
  provider: 'ollama',
  upstream: 'qwen3:8b',
});

/** A loopback server playing Ollama: each test queues its answers; requests are recorded. */
const harness = new AdapterHarness({
  create: (config, deps) => new OllamaAdapter('ollama', config, deps),
  config: { type: 'ollama' },
  headers: { 'content-type': 'application/json; charset=utf-8' },
  model: MODEL,
  completionId: 'chatcmpl-adapter-spec-0001',
  body: { model: 'ollama/qwen3:8b', messages: [{ role: 'user', content: 'Hi' }] },
});
const { adapter, events: collect, failure, reply } = harness;
const seen = harness.requests;

const DONE = {
  model: 'qwen3:8b',
  created_at: '2026-01-15T10:20:30.201Z',
  message: { role: 'assistant', content: 'Hello' },
  done_reason: 'stop',
  done: true,
  prompt_eval_count: 3,
  eval_count: 1,
};

describe('OllamaAdapter', () => {
  it('is not configured without a base URL, and says which setting to fill', () => {
    const bare = adapter({ base_url: undefined, base_url_env: 'OLLAMA_BASE_URL' });
    expect(bare.configured).toBe(false);
    expect(bare.missingCredentials(undefined)).toBe(
      "Provider 'ollama' has no base URL; set providers.ollama.base_url (or OLLAMA_BASE_URL).",
    );
    expect(adapter().configured).toBe(true);
    expect(adapter().missingCredentials(undefined)).toBeUndefined();
    expect(adapter()).toMatchObject({ type: 'ollama', framing: 'ndjson' });
  });

  it('POSTs /api/chat under the base path, with no auth header unless a key is configured', async () => {
    const done = { status: 200, body: JSON.stringify(DONE) };
    reply(done, done);
    const events = await collect(adapter({ base_url: `${harness.baseUrl}/ollama/` }));
    expect(events.map((e) => e.type)).toEqual(['content_chunk', 'completed']);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/ollama/api/chat' });
    expect(seen[0]!.headers).not.toHaveProperty('authorization');
    expect(seen[0]!.headers).toMatchObject({
      'content-type': 'application/json',
      accept: 'application/json',
    });
    expect(seen[0]!.body).toEqual({
      model: 'qwen3:8b',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: false,
    });

    await collect(adapter({ api_key: 'proxy-token-123456', headers: { 'x-tenant': 't1' } }), {
      stream: true,
    });
    expect(seen[1]!.headers).toMatchObject({
      authorization: 'Bearer proxy-token-123456',
      accept: 'application/x-ndjson',
      'x-tenant': 't1',
    });
    expect(seen[1]!.body).toMatchObject({ stream: true });
  });

  it('streams NDJSON and fails a bad request before calling Ollama', async () => {
    reply({
      status: 200,
      headers: { 'content-type': 'application/x-ndjson' },
      body: `${JSON.stringify({ message: { role: 'assistant', content: 'Hé' }, done: false })}\n${JSON.stringify({ ...DONE, message: { role: 'assistant', content: '' } })}\n`,
    });
    const events = await collect(adapter(), { stream: true });
    expect(events).toEqual([
      { type: 'content_chunk', completionId: 'chatcmpl-adapter-spec-0001', content: 'Hé', index: 0 },
      {
        type: 'completed',
        completionId: 'chatcmpl-adapter-spec-0001',
        finishReason: 'stop',
        usage: { promptTokens: 3, completionTokens: 1, totalTokens: 4 },
      },
    ]);
    seen.length = 0;
    const error = await failure(adapter(), {
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }],
    });
    expect(error).toMatchObject({ code: StreamErrorCode.BadRequest, retryable: false });
    expect(seen).toHaveLength(0);
  });

  it.each<[string, Reply, Partial<ProviderError>]>([
    [
      'auth proxy 401',
      { status: 401, body: '{"error":"unauthorized"}' },
      { code: StreamErrorCode.AuthenticationFailed, retryable: false },
    ],
    [
      '403',
      { status: 403, body: '{"error":"forbidden"}' },
      { code: StreamErrorCode.AuthenticationFailed, retryable: false },
    ],
    [
      '429 with retry-after',
      { status: 429, headers: { 'retry-after': '7' }, body: '{"error":"too many requests"}' },
      { code: StreamErrorCode.RateLimitExceeded, retryable: true, retryAfterMs: 7000 },
    ],
    [
      '429 with retry-after-ms',
      { status: 429, headers: { 'retry-after-ms': '1500' }, body: '{"error":"slow down"}' },
      { code: StreamErrorCode.RateLimitExceeded, retryable: true, retryAfterMs: 1500 },
    ],
    [
      '503 server busy',
      { status: 503, body: '{"error":"server busy, please try again.  maximum pending requests exceeded"}' },
      { code: StreamErrorCode.ProviderError, retryable: true },
    ],
    [
      '500',
      { status: 500, body: '{"error":"llama runner process has terminated"}' },
      { code: StreamErrorCode.ProviderError, retryable: true },
    ],
    [
      '400',
      { status: 400, body: '{"error":"invalid options"}' },
      { code: StreamErrorCode.BadRequest, retryable: false },
    ],
    [
      '404 model not pulled',
      { status: 404, body: `{"error":"model 'qwen3:8b' not found"}` },
      { code: StreamErrorCode.ProviderError, retryable: false },
    ],
    [
      '502 HTML from a proxy',
      { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>Bad Gateway</html>' },
      { code: StreamErrorCode.ProviderError, retryable: true },
    ],
  ])('HTTP error: %s', async (_name, answer, expected) => {
    reply(answer);
    const error = await failure(adapter({ api_key: 'proxy-token-123456' }), { stream: true });
    expect(error).toMatchObject({ ...expected, status: answer.status });
    expect(error.message).toMatch(/^ollama /);
    expect(error.message).not.toContain('proxy-token-123456');
  });

  it('discovers models from GET /api/tags, with the key when one is configured', async () => {
    reply({
      status: 200,
      body: JSON.stringify({
        models: [
          {
            name: 'llama3.2:latest',
            model: 'llama3.2:latest',
            size: 2019393189,
            details: { family: 'llama' },
          },
          { name: 'qwen3:8b', model: 'qwen3:8b' },
        ],
      }),
    });
    const models = await adapter({ api_key: 'proxy-token-123456' }).discoverModels(
      new AbortController().signal,
    );
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/tags' });
    expect(seen[0]!.headers.authorization).toBe('Bearer proxy-token-123456');
    expect(models.map((m) => [m.id, m.upstream, m.aliases])).toEqual([
      ['ollama/llama3.2:latest', 'llama3.2:latest', ['ollama/llama3.2']],
      ['ollama/qwen3:8b', 'qwen3:8b', []],
    ]);
  });

  it('a failing or invalid /api/tags rejects with a classified error', async () => {
    reply({ status: 500, body: '{"error":"permission denied"}' });
    await expect(adapter().discoverModels(new AbortController().signal)).rejects.toMatchObject({
      code: StreamErrorCode.ProviderError,
    });
    reply({ status: 200, body: '"not a list"' });
    await expect(adapter().discoverModels(new AbortController().signal)).rejects.toMatchObject({
      code: StreamErrorCode.InvalidResponse,
    });
  });
});

describe('ollamaModels', () => {
  it('maps each entry to <provider>/<name>, aliasing :latest without the tag', () => {
    expect(
      ollamaModels(
        {
          models: [
            {
              name: 'llama3.2:latest',
              model: 'llama3.2:latest',
              modified_at: '2026-01-10T08:00:00Z',
              size: 2019393189,
              digest: 'a80c4f17acd5',
              details: { family: 'llama', parameter_size: '3.2B', quantization_level: 'Q4_K_M' },
            },
            { name: 'hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M', model: 'hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M' },
          ],
        },
        'local',
      ),
    ).toEqual([
      {
        id: 'local/llama3.2:latest',
        provider: 'local',
        upstream: 'llama3.2:latest',
        aliases: ['local/llama3.2'],
        options: {},
      },
      {
        id: 'local/hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M',
        provider: 'local',
        upstream: 'hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M',
        aliases: [],
        options: {},
      },
    ]);
  });

  it('skips malformed entries (no name, not a string, blank, a bare tag, duplicates) and falls back to `model`', () => {
    const models = ollamaModels(
      {
        models: [
          null,
          'llama3.2',
          { size: 1 },
          { name: 42 },
          { name: '' },
          { name: 'two words' },
          { model: 'phi4:latest' },
          { name: 'phi4:latest' },
          { name: ':latest' },
        ],
      },
      'ollama',
    );
    expect(models.map((m) => [m.id, m.aliases])).toEqual([['ollama/phi4:latest', ['ollama/phi4']]]);
  });

  it('an empty list is fine; a body that is not an object with a models array is invalid_response', () => {
    expect(ollamaModels({ models: [] }, 'ollama')).toEqual([]);
    for (const body of [null, [], 'text', { models: 'x' }, {}]) {
      let error: unknown;
      try {
        ollamaModels(body, 'ollama');
      } catch (caught) {
        error = caught;
      }
      expect(error).toMatchObject({ code: StreamErrorCode.InvalidResponse, retryable: false });
    }
  });
});
