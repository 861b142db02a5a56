import { StreamErrorCode } from '../../contract/error-code';
import {
  httpStatusError,
  parseProtoDuration,
  retryAfterFromHeaders,
  scrubSecrets,
  streamFrameError,
  transportError,
} from './upstream-errors';

const TIMEOUTS = { connect: 1000, firstByte: 2000, idle: 3000 };

describe('httpStatusError: the classification routing acts on', () => {
  it.each([
    [401, undefined, StreamErrorCode.AuthenticationFailed, false],
    [403, 'permission_error', StreamErrorCode.AuthenticationFailed, false],
    [429, 'rate_limit_error', StreamErrorCode.RateLimitExceeded, true],
    [529, 'overloaded_error', StreamErrorCode.RateLimitExceeded, true],
    [429, 'RESOURCE_EXHAUSTED', StreamErrorCode.RateLimitExceeded, true],
    [503, 'overloaded_error', StreamErrorCode.RateLimitExceeded, true],
    [500, 'api_error', StreamErrorCode.ProviderError, true],
    [502, undefined, StreamErrorCode.ProviderError, true],
    [503, 'UNAVAILABLE', StreamErrorCode.ProviderError, true],
    [409, undefined, StreamErrorCode.ProviderError, true],
    [408, undefined, StreamErrorCode.ProviderTimeout, true],
    [504, 'DEADLINE_EXCEEDED', StreamErrorCode.ProviderTimeout, true],
    [404, 'not_found_error', StreamErrorCode.ProviderError, false],
    [400, 'invalid_request_error', StreamErrorCode.BadRequest, false],
    [413, 'request_too_large', StreamErrorCode.BadRequest, false],
    [422, undefined, StreamErrorCode.BadRequest, false],
  ] as const)('HTTP %i (%s) -> %s, retryable %s', (status, type, code, retryable) => {
    const err = httpStatusError('vendor', status, { type, message: 'details' });
    expect({ code: err.code, retryable: err.retryable, status: err.status }).toEqual({
      code,
      retryable,
      status,
    });
  });

  it('carries the retry delay and keeps the vendor message, scrubbed', () => {
    const err = httpStatusError(
      'openai',
      429,
      { message: 'Slow down, sk-proj-abcdef123456', retryAfterMs: 7000 },
      ['sk-proj-abcdef123456'],
    );
    expect(err.retryAfterMs).toBe(7000);
    expect(err.message).toBe('openai is rate limiting or overloaded (HTTP 429): Slow down, [redacted]');
  });

  it('never forwards an auth error message (vendors echo part of the key)', () => {
    const err = httpStatusError('openai', 401, { message: 'Incorrect API key provided: sk-te****leak' });
    expect(err.message).not.toContain('leak');
  });

  it('treats an exhausted quota as a rate limit that waiting will not fix', () => {
    const err = httpStatusError('openai', 429, {
      type: 'insufficient_quota',
      message: 'You exceeded your current quota',
    });
    expect({ code: err.code, retryable: err.retryable }).toEqual({
      code: StreamErrorCode.RateLimitExceeded,
      retryable: false,
    });
  });

  it('lets a vendor name the kind outright', () => {
    const err = httpStatusError('google', 400, {
      kind: StreamErrorCode.AuthenticationFailed,
      message: 'API key not valid',
    });
    expect(err.code).toBe(StreamErrorCode.AuthenticationFailed);
  });
});

describe('streamFrameError', () => {
  it('classifies by vendor type, then by a status, else as a retryable provider error', () => {
    expect(streamFrameError('a', { type: 'overloaded_error' }).code).toBe(StreamErrorCode.RateLimitExceeded);
    expect(streamFrameError('a', {}, [], 401).code).toBe(StreamErrorCode.AuthenticationFailed);
    const unknown = streamFrameError('a', { type: 'weird', message: 'boom' });
    expect({ code: unknown.code, retryable: unknown.retryable }).toEqual({
      code: StreamErrorCode.ProviderError,
      retryable: true,
    });
  });
});

describe('transportError', () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });

  it.each([
    ['UND_ERR_CONNECT_TIMEOUT', StreamErrorCode.ProviderTimeout, 'could not connect within 1000 ms'],
    ['UND_ERR_HEADERS_TIMEOUT', StreamErrorCode.ProviderTimeout, 'no response within 2000 ms'],
    ['UND_ERR_BODY_TIMEOUT', StreamErrorCode.ProviderTimeout, 'no progress for 3000 ms'],
    ['ECONNREFUSED', StreamErrorCode.ConnectionLost, 'ECONNREFUSED'],
    ['UND_ERR_SOCKET', StreamErrorCode.ConnectionLost, 'UND_ERR_SOCKET'],
    ['ECONNRESET', StreamErrorCode.ConnectionLost, 'ECONNRESET'],
  ])('%s -> %s', (code, kind, text) => {
    const err = transportError('p', withCode(code), TIMEOUTS);
    expect(err?.code).toBe(kind);
    expect(err?.retryable).toBe(true);
    expect(err?.message).toContain(text);
  });

  it('finds the code on a cause, and leaves other errors alone', () => {
    expect(transportError('p', new Error('x', { cause: withCode('ECONNRESET') }), TIMEOUTS)?.code).toBe(
      StreamErrorCode.ConnectionLost,
    );
    expect(transportError('p', new TypeError('bug'), TIMEOUTS)).toBeUndefined();
    expect(transportError('p', withCode('UND_ERR_ABORTED'), TIMEOUTS)).toBeUndefined();
  });
});

describe('retry delays', () => {
  it('reads retry-after-ms, retry-after seconds and HTTP dates', () => {
    expect(retryAfterFromHeaders({ 'retry-after-ms': '1500', 'retry-after': '9' })).toBe(1500);
    expect(retryAfterFromHeaders({ 'retry-after': '7' })).toBe(7000);
    expect(retryAfterFromHeaders({ 'retry-after': '0.5' })).toBe(500);
    const now = Date.parse('2026-11-23T10:00:00Z');
    expect(retryAfterFromHeaders({ 'retry-after': 'Mon, 23 Nov 2026 10:00:30 GMT' }, now)).toBe(30_000);
    expect(retryAfterFromHeaders({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfterFromHeaders({})).toBeUndefined();
  });

  it("falls back to OpenAI's reset time of an exhausted rate limit", () => {
    expect(
      retryAfterFromHeaders({
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '1m30s',
        'x-ratelimit-remaining-tokens': '500',
        'x-ratelimit-reset-tokens': '6m0s',
      }),
    ).toBe(90_000);
    expect(
      retryAfterFromHeaders({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '250ms' }),
    ).toBe(250);
    expect(retryAfterFromHeaders({ 'x-ratelimit-reset-requests': '1s' })).toBeUndefined();
  });

  it("reads Gemini's RetryInfo durations", () => {
    expect(parseProtoDuration('22s')).toBe(22_000);
    expect(parseProtoDuration('1.5s')).toBe(1500);
    expect(parseProtoDuration('22')).toBeUndefined();
    expect(parseProtoDuration(22)).toBeUndefined();
  });
});

describe('scrubSecrets', () => {
  it('removes the given secrets and key-shaped strings', () => {
    expect(
      scrubSecrets('key my-secret-value and sk-ant-api03-abcdef and AIzaSyA1234567890abcdefghijk', [
        'my-secret-value',
      ]),
    ).toBe('key [redacted] and [redacted] and [redacted]');
    expect(scrubSecrets('Bearer abc.def.ghi123')).toBe('[redacted]');
  });
});
