import { DomainError, RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import { MuxErrorCode, MuxMessageError } from './mux-messages';
import {
  closeWith,
  deniedBy,
  errorMessage,
  SLOW_CONSUMER,
  streamErrorMessage,
  streamOverflow,
  TOO_MANY_CONNECTIONS,
} from './ws-errors';

/** A peer that records the text it was sent and how it was closed. */
function peer() {
  const sent: string[] = [];
  const closes: Array<[number, string]> = [];
  return {
    sent,
    closes,
    send: (text: string) => void sent.push(text),
    close: (code: number, reason: string) => void closes.push([code, reason]),
  };
}

describe('errorMessage', () => {
  it("writes a protocol refusal with its param, naming the client's id of the completion it was about", () => {
    const err = new MuxMessageError(MuxErrorCode.DuplicateId, 'Taken.', 'id', 'c-1');
    expect(JSON.stringify(errorMessage(err))).toBe(
      '{"type":"error","id":"c-1","error":{"code":"duplicate_id","message":"Taken.","param":"id"}}',
    );
    const plain = new MuxMessageError(MuxErrorCode.InvalidMessage, 'Bad.');
    expect(JSON.stringify(errorMessage(plain))).toBe(
      '{"type":"error","error":{"code":"invalid_message","message":"Bad."}}',
    );
  });

  it('writes a DomainError with every detail, in the wire order', () => {
    const err = new DomainError(StreamErrorCode.RateLimitExceeded, 'Slow down.', {
      retryAfterMs: 1500,
      param: 'model',
      deadLetterId: 'dl-1',
    });
    expect(JSON.stringify(errorMessage(err, { id: 'a', completionId: 'chatcmpl-1' }))).toBe(
      '{"type":"error","id":"a","completionId":"chatcmpl-1","error":{"code":"rate_limit_exceeded","message":"Slow down.",' +
        '"param":"model","retryAfterMs":1500,"deadLetterId":"dl-1"}}',
    );
  });

  it('puts the param of a refused follow over the error own, keeping its place', () => {
    const err = new DomainError(StreamErrorCode.RateLimitExceeded, 'Slow down.', { retryAfterMs: 10 });
    expect(JSON.stringify(errorMessage(err, { workflowId: 'w' }, { param: 'workflowId' }))).toBe(
      '{"type":"error","workflowId":"w","error":{"code":"rate_limit_exceeded","message":"Slow down.",' +
        '"retryAfterMs":10,"param":"workflowId"}}',
    );
    const named = new DomainError(RequestErrorCode.NotFound, 'No such.', { param: 'id' });
    expect(errorMessage(named, {}, { param: 'streams' }).error).toEqual({
      code: 'not_found',
      message: 'No such.',
      param: 'streams',
    });
  });

  it('hides anything that is not the app own behind internal_error and the fallback', () => {
    const secret = new Error('ECONNREFUSED 10.0.0.7:6379 password=hunter2');
    expect(errorMessage(secret, { completionId: 'a' })).toEqual({
      type: 'error',
      completionId: 'a',
      error: { code: 'internal_error', message: 'The completion failed unexpectedly.' },
    });
    expect(errorMessage(secret, {}, { fallback: 'The message failed.' }).error.message).toBe(
      'The message failed.',
    );
  });

  it('writes a completion error event like a DomainError of the same fields', () => {
    const error = {
      code: StreamErrorCode.ProviderError,
      message: 'All failed.',
      retryable: true,
      deadLetterId: 'dl',
    };
    expect(JSON.stringify(streamErrorMessage({ id: 'a', completionId: 'chatcmpl-1', seq: 4 }, error))).toBe(
      '{"type":"error","id":"a","completionId":"chatcmpl-1","seq":4,' +
        '"error":{"code":"provider_error","message":"All failed.","deadLetterId":"dl"}}',
    );
    expect(streamErrorMessage({ completionId: 'chatcmpl-1', seq: 4 }, error)).toEqual({
      type: 'error',
      completionId: 'chatcmpl-1',
      seq: 4,
      error: { code: 'provider_error', message: 'All failed.', deadLetterId: 'dl' },
    });
  });

  it('ends an overflowing followed stream with slow_consumer', () => {
    expect(errorMessage(streamOverflow(), { workflowId: 'w' }).error.code).toBe('slow_consumer');
  });
});

describe('closings', () => {
  it('sends the error first, then closes with the code and reason', () => {
    const p = peer();
    closeWith(p, TOO_MANY_CONNECTIONS);
    closeWith(p, SLOW_CONSUMER);
    expect(p.sent).toEqual([
      '{"type":"error","error":{"code":"too_many_connections","message":"Too many connections; retry shortly."}}',
      '{"type":"error","error":{"code":"slow_consumer","message":"The connection fell too far behind; closing it."}}',
    ]);
    expect(p.closes).toEqual([
      [1013, 'too many connections'],
      [4008, 'slow consumer'],
    ]);
  });

  it('denies credentials with 4401 and a refusal with 4403, the reason cut to fit a close frame', () => {
    const long = `Expired. ${'x'.repeat(200)}`;
    const unauthorized = deniedBy(new DomainError(RequestErrorCode.Unauthorized, long));
    expect(unauthorized.code).toBe(4401);
    expect(unauthorized.message).toEqual({ type: 'error', error: { code: 'unauthorized', message: long } });
    expect(unauthorized.reason).toBe(long.slice(0, 120));
    const forbidden = deniedBy(new DomainError(StreamErrorCode.Forbidden, 'Revoked.', { param: 'token' }));
    expect(forbidden).toEqual({
      message: { type: 'error', error: { code: 'forbidden', message: 'Revoked.' } },
      code: 4403,
      reason: 'Revoked.',
    });
    expect(deniedBy(new Error('secret detail'))).toEqual({
      message: { type: 'error', error: { code: 'unauthorized', message: 'Authentication failed.' } },
      code: 4401,
      reason: 'Authentication failed.',
    });
  });
});
