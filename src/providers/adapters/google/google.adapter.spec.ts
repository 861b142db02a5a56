import { StreamErrorCode } from '../../../contract/error-code';
import { ModelConfig, ProviderConfig } from '../../../config/app-config';
import type { ChatCompletionRequest } from '../../../contract/chat-request';
import type { UpstreamCall } from '../../http/http-provider.adapter';
import { httpStatusError, type VendorErrorInfo } from '../../http/upstream-errors';
import { UpstreamPools } from '../../http/upstream-pools';
import { collect } from '../../testing/adapter-harness';
import { GoogleAdapter } from './google.adapter';

const KEY = 'AIzaSyD-test-key-0123456789abcdefghijk';

/** The adapter with its protected vendor hooks opened for the test. */
class Probe extends GoogleAdapter {
  call(
    body: ChatCompletionRequest,
    stream: boolean,
    apiKey?: string,
    upstream = 'gemini-2.5-flash',
  ): UpstreamCall {
    const model = Object.assign(new ModelConfig(), { id: 'google/m', provider: this.id, upstream });
    return this.buildCall(
      { completionId: 'chatcmpl-1', model, body, signal: new AbortController().signal, apiKey },
      stream,
      apiKey,
    );
  }

  info(body: unknown): VendorErrorInfo {
    return this.codec.errorInfo(body);
  }
}

function adapter(config: Partial<ProviderConfig> = {}, pools = new UpstreamPools(1)): Probe {
  return new Probe(
    'google',
    Object.assign(new ProviderConfig(), { type: 'google', api_key: KEY, ...config }),
    { pools, maxResponseBytes: 1 << 20 },
  );
}

const HI: ChatCompletionRequest = { model: 'google/m', messages: [{ role: 'user', content: 'Hi' }] };

describe('GoogleAdapter', () => {
  it('is a google SSE adapter for the public Gemini API that needs a key', () => {
    const google = adapter();
    expect({ type: google.type, framing: google.framing, configured: google.configured }).toEqual({
      type: 'google',
      framing: 'sse',
      configured: true,
    });
    expect(adapter({ api_key: undefined, api_key_env: 'GEMINI_API_KEY' }).missingCredentials(undefined)).toBe(
      "Provider 'google' has no API key: set GEMINI_API_KEY, or send your key in the X-Provider-Key header.",
    );
  });

  it('streams from :streamGenerateContent?alt=sse with the key in x-goog-api-key', () => {
    const call = adapter().call({ ...HI, stream: true }, true, KEY);
    expect(call).toEqual({
      path: '/models/gemini-2.5-flash:streamGenerateContent',
      query: { alt: 'sse' },
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-goog-api-key': KEY },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] }),
    });
  });

  it('answers whole from :generateContent, with an encoded model name', () => {
    const call = adapter().call(HI, false, KEY, 'models/tuned model#1');
    expect(call.path).toBe('/models/tuned%20model%231:generateContent');
    expect(call.query).toBeUndefined();
    expect(call.headers.accept).toBe('application/json');
  });

  it('uses the configured auth header instead when one is set', () => {
    expect(adapter({ auth_header: 'authorization' }).call(HI, true, KEY).headers).toMatchObject({
      authorization: `Bearer ${KEY}`,
    });
  });

  it('refuses a request Gemini cannot take before any upstream call', async () => {
    const pools = new UpstreamPools(1);
    const google = adapter({}, pools);
    const bad: ChatCompletionRequest = {
      ...HI,
      messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }],
    };
    const model = Object.assign(new ModelConfig(), { id: 'google/m', provider: 'google', upstream: 'g' });
    const { error } = await collect(google, { completionId: 'chatcmpl-1', model, body: bad });
    expect(error).toMatchObject({ code: StreamErrorCode.BadRequest, retryable: false });
    expect(pools.origins()).toEqual([]);
    await pools.close();
  });
});

/** As HttpProviderAdapter classifies an HTTP error (no retry-after header here: RetryInfo is the delay). */
function classify(status: number, text: string) {
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    // text bodies are read as text
  }
  const err = httpStatusError('google', status, adapter().info(parsed), [KEY]);
  return { code: err.code, retryable: err.retryable, retryAfterMs: err.retryAfterMs, message: err.message };
}

const status = (code: number, name: string, message: string, details?: unknown[]) =>
  JSON.stringify({ error: { code, message, status: name, ...(details ? { details } : {}) } }, null, 2);

describe('GoogleAdapter error bodies', () => {
  it('a bad API key is a 400 INVALID_ARGUMENT whose ErrorInfo says API_KEY_INVALID -> authentication_failed', () => {
    const result = classify(
      400,
      status(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'API_KEY_INVALID',
          domain: 'googleapis.com',
        },
      ]),
    );
    expect(result).toEqual({
      code: StreamErrorCode.AuthenticationFailed,
      retryable: false,
      retryAfterMs: undefined,
      message: "google rejected the credentials (HTTP 400). Check the provider's API key.",
    });
  });

  it.each<[string, number, string, Partial<ReturnType<typeof classify>>]>([
    [
      '403 PERMISSION_DENIED',
      403,
      status(403, 'PERMISSION_DENIED', 'Permission denied.'),
      {
        code: StreamErrorCode.AuthenticationFailed,
        retryable: false,
      },
    ],
    [
      '401 UNAUTHENTICATED',
      401,
      status(401, 'UNAUTHENTICATED', 'Request had invalid credentials.'),
      {
        code: StreamErrorCode.AuthenticationFailed,
        retryable: false,
      },
    ],
    [
      '429 RESOURCE_EXHAUSTED with RetryInfo',
      429,
      status(
        429,
        'RESOURCE_EXHAUSTED',
        'You exceeded your current quota, please check your plan and billing details.',
        [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId: 'PerMinute' }] },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '22s' },
        ],
      ),
      { code: StreamErrorCode.RateLimitExceeded, retryable: true, retryAfterMs: 22_000 },
    ],
    [
      '429 RESOURCE_EXHAUSTED for a quota with no RetryInfo (a daily cap: retrying will not help)',
      429,
      status(
        429,
        'RESOURCE_EXHAUSTED',
        'You exceeded your current quota, please check your plan and billing details.',
      ),
      { code: StreamErrorCode.RateLimitExceeded, retryable: false, retryAfterMs: undefined },
    ],
    [
      '503 UNAVAILABLE (overloaded)',
      503,
      status(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'),
      {
        code: StreamErrorCode.ProviderError,
        retryable: true,
        message: 'google failed (HTTP 503): The model is overloaded. Please try again later.',
      },
    ],
    [
      '500 INTERNAL',
      500,
      status(500, 'INTERNAL', 'An internal error has occurred.'),
      {
        code: StreamErrorCode.ProviderError,
        retryable: true,
      },
    ],
    [
      '504 DEADLINE_EXCEEDED',
      504,
      status(504, 'DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.'),
      {
        code: StreamErrorCode.ProviderTimeout,
        retryable: true,
      },
    ],
    [
      '400 INVALID_ARGUMENT',
      400,
      status(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Unknown name "foo"', [
        { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: 'foo' }] },
      ]),
      {
        code: StreamErrorCode.BadRequest,
        retryable: false,
        message: 'google rejected the request (HTTP 400): Invalid JSON payload received. Unknown name "foo"',
      },
    ],
    [
      '400 FAILED_PRECONDITION',
      400,
      status(400, 'FAILED_PRECONDITION', 'User location is not supported.'),
      {
        code: StreamErrorCode.BadRequest,
        retryable: false,
      },
    ],
    [
      '404 NOT_FOUND (a wrong model name)',
      404,
      status(404, 'NOT_FOUND', 'models/gemini-9 is not found.'),
      {
        code: StreamErrorCode.ProviderError,
        retryable: false,
      },
    ],
    [
      'an array-wrapped body (the non-SSE stream form)',
      429,
      JSON.stringify([
        {
          error: {
            code: 429,
            message: 'Slow down.',
            status: 'RESOURCE_EXHAUSTED',
            details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '0.5s' }],
          },
        },
      ]),
      { code: StreamErrorCode.RateLimitExceeded, retryable: true, retryAfterMs: 500 },
    ],
    [
      'a proxy page that is not JSON',
      502,
      '<html>Bad Gateway</html>',
      {
        code: StreamErrorCode.ProviderError,
        retryable: true,
        message: 'google failed (HTTP 502): <html>Bad Gateway</html>',
      },
    ],
    [
      'an empty body',
      503,
      '',
      {
        code: StreamErrorCode.ProviderError,
        retryable: true,
        message: 'google failed (HTTP 503): provider error',
      },
    ],
  ])('%s', (_what, code, text, expected) => {
    expect(classify(code, text)).toMatchObject(expected);
  });

  it('scrubs the key from a vendor message it passes on', () => {
    expect(classify(400, status(400, 'INVALID_ARGUMENT', `bad request for ${KEY}`)).message).toBe(
      'google rejected the request (HTTP 400): bad request for [redacted]',
    );
  });

  it('reads RetryInfo, ErrorInfo, the status and the message from a google.rpc.Status', () => {
    expect(
      adapter().info({
        error: {
          code: 403,
          message: 'API key expired.',
          status: 'PERMISSION_DENIED',
          details: [
            { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_SERVICE_BLOCKED' },
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: 'soon' },
          ],
        },
      }),
    ).toEqual({
      message: 'API key expired.',
      type: 'PERMISSION_DENIED',
      retryAfterMs: undefined,
      kind: StreamErrorCode.AuthenticationFailed,
    });
    expect(
      adapter().info({
        error: { code: 400, status: 'INVALID_ARGUMENT', details: [{ reason: 'API_KEY_INVALID' }] },
      }),
    ).toEqual({
      type: 'INVALID_ARGUMENT',
    });
  });
});
