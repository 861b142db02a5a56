import { StreamErrorCode } from '../../../contract/error-code';
import { ModelConfig } from '../../../config/app-config';
import { AdapterHarness } from '../../testing/adapter-harness';
import { fixtureReader } from '../../testing/replay';
import { AnthropicAdapter } from './anthropic.adapter';

/**
 * The adapter over a real socket: a loopback server plays Anthropic's answers and errors, so the HTTP error
 * classification (status + body + headers) and the headers sent are those the router really gets.
 */

const KEY = 'sk-ant-api03-unit-secret-0123456789';

const MODEL = Object.assign(new ModelConfig(), {
  id: 'anthropic/claude',
  provider: 'anthropic',
  upstream: 'claude-sonnet-4-5',
});

const harness = new AdapterHarness({
  create: (config, deps) => new AnthropicAdapter('anthropic', config, deps),
  config: { type: 'anthropic', api_key: KEY },
  basePath: '/v1',
  headers: { 'request-id': 'req_011CUnitTest' },
  model: MODEL,
  completionId: 'chatcmpl-unit',
  body: { model: 'anthropic/claude', messages: [{ role: 'user', content: 'Hi' }] },
});
const { adapter, collect, reply } = harness;
const seen = harness.requests;
const fixture = fixtureReader(__dirname);

const errorBody = (type: string, message: string) =>
  JSON.stringify({ type: 'error', error: { type, message } });

describe('AnthropicAdapter over HTTP', () => {
  it('streams a recorded-shape SSE body, sending x-api-key, anthropic-version and accept', async () => {
    reply({
      status: 200,
      headers: { 'content-type': 'text/event-stream; charset=utf-8' },
      body: fixture('text.sse'),
    });
    const { events, error } = await collect(adapter(), { stream: true });
    expect(error).toBeUndefined();
    expect(events.map((e) => (e.type === 'content_chunk' ? e.content : e.type))).toEqual([
      'Hel',
      'lo wörld 😀',
      ' — 日本語',
      'completed',
    ]);
    const [request] = seen;
    expect(request).toMatchObject({ method: 'POST', url: '/v1/messages' });
    expect(request?.headers).toMatchObject({
      'x-api-key': KEY,
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
      accept: 'text/event-stream',
    });
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.body).toMatchObject({ model: 'claude-sonnet-4-5', stream: true, max_tokens: 4096 });
  });

  it('answers a non-stream request from the JSON message', async () => {
    reply({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [{ type: 'text', text: 'Hello there' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 5, output_tokens: 2 },
      }),
    });
    const { events } = await collect(adapter());
    expect(events).toEqual([
      { type: 'content_chunk', completionId: 'chatcmpl-unit', content: 'Hello there', index: 0 },
      {
        type: 'completed',
        completionId: 'chatcmpl-unit',
        finishReason: 'stop',
        usage: { promptTokens: 5, completionTokens: 2, totalTokens: 7 },
      },
    ]);
    expect(seen[0]?.headers.accept).toBe('application/json');
    expect(seen[0]?.body).not.toHaveProperty('stream');
  });

  it("uses the caller's own key, and auth_header when config names another header", async () => {
    const empty = {
      status: 200,
      body: JSON.stringify({ type: 'message', content: [], stop_reason: 'end_turn' }),
    };
    reply(empty, empty);
    await collect(adapter(), {}, 'sk-ant-byok-1234567890');
    expect(seen[0]?.headers['x-api-key']).toBe('sk-ant-byok-1234567890');
    await collect(adapter({ auth_header: 'authorization' }));
    expect(seen[1]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(seen[1]?.headers['x-api-key']).toBeUndefined();
  });

  it('without any key, refuses before calling upstream', async () => {
    const { error } = await collect(adapter({ api_key: undefined }));
    expect(error).toMatchObject({ code: StreamErrorCode.AuthenticationFailed, retryable: false });
    expect(seen).toHaveLength(0);
  });

  it('a client input Anthropic cannot express is refused before calling upstream', async () => {
    const { error } = await collect(adapter(), {
      messages: [
        { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AA', format: 'wav' } }] },
      ],
    });
    expect(error).toMatchObject({ code: StreamErrorCode.BadRequest, retryable: false });
    expect(seen).toHaveLength(0);
  });

  describe('HTTP errors, classified', () => {
    it.each([
      [400, 'invalid_request_error', {}, StreamErrorCode.BadRequest, false, undefined],
      [401, 'authentication_error', {}, StreamErrorCode.AuthenticationFailed, false, undefined],
      [403, 'permission_error', {}, StreamErrorCode.AuthenticationFailed, false, undefined],
      [404, 'not_found_error', {}, StreamErrorCode.ProviderError, false, undefined],
      [413, 'request_too_large', {}, StreamErrorCode.BadRequest, false, undefined],
      [429, 'rate_limit_error', { 'retry-after': '7' }, StreamErrorCode.RateLimitExceeded, true, 7000],
      [429, 'rate_limit_error', { 'retry-after-ms': '1500' }, StreamErrorCode.RateLimitExceeded, true, 1500],
      [500, 'api_error', {}, StreamErrorCode.ProviderError, true, undefined],
      [503, 'api_error', {}, StreamErrorCode.ProviderError, true, undefined],
      [529, 'overloaded_error', {}, StreamErrorCode.RateLimitExceeded, true, undefined],
    ] as const)(
      '%d %s %j -> %s, retryable %s, retry after %s ms',
      async (status, type, headers, code, retryable, after) => {
        reply({
          status,
          headers: { 'content-type': 'application/json', ...headers },
          body: errorBody(type, `the ${type} message, key ${KEY}`),
        });
        const { error } = await collect(adapter(), { stream: true });
        expect(error).toMatchObject({ code, retryable, status, vendorType: type });
        expect(error?.retryAfterMs).toBe(after);
        expect(error?.message).not.toContain(KEY);
        if (code === StreamErrorCode.AuthenticationFailed) expect(error?.message).not.toContain('message');
        else expect(error?.message).toContain(`the ${type} message`);
      },
    );

    it('a proxy page that is not JSON -> classified by status, its text kept short', async () => {
      reply({ status: 502, headers: { 'content-type': 'text/html' }, body: '<html>Bad gateway</html>' });
      const { error } = await collect(adapter(), { stream: true });
      expect(error).toMatchObject({ code: StreamErrorCode.ProviderError, retryable: true, status: 502 });
      expect(error?.message).toContain('Bad gateway');
    });
  });

  it('checkModel accepts a positive integer options.max_tokens only', () => {
    const target = adapter();
    const withOptions = (options: Record<string, unknown>) =>
      Object.assign(new ModelConfig(), { ...MODEL, options });
    expect(target.checkModel(withOptions({}))).toEqual([]);
    expect(target.checkModel(withOptions({ max_tokens: 8192 }))).toEqual([]);
    expect(target.checkModel(withOptions({ max_tokens: '8192' }))).toHaveLength(1);
    expect(target.checkModel(withOptions({ max_tokens: 0 }))).toHaveLength(1);
  });
});
