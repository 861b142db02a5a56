import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { CompletionError, RequestErrorCode, StreamErrorCode } from '../../contract/error-code';
import { toHttpError } from './openai-exception.filter';

describe('toHttpError', () => {
  it('maps domain errors by code, with param and retry-after', () => {
    expect(
      toHttpError(new CompletionError(StreamErrorCode.RateLimitExceeded, 'wait', { retryAfterMs: 1500 })),
    ).toEqual({
      status: 429,
      body: {
        error: { message: 'wait', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' },
      },
      retryAfterMs: 1500,
    });
    expect(
      toHttpError(new CompletionError(RequestErrorCode.ModelNotFound, 'no', { param: 'model' })),
    ).toMatchObject({
      status: 404,
      body: { error: { param: 'model', code: 'model_not_found' } },
    });
  });

  it('names the dead letter of a dead-lettered failure beside the four OpenAI keys', () => {
    const error = new CompletionError(StreamErrorCode.ProviderError, 'all failed', {
      deadLetterId: 'dl-0123456789abcdef0123456789abcdef',
    });
    expect(toHttpError(error)).toEqual({
      status: 502,
      body: {
        error: {
          message: 'all failed',
          type: 'upstream_error',
          param: null,
          code: 'provider_error',
          dead_letter_id: 'dl-0123456789abcdef0123456789abcdef',
        },
      },
    });
  });

  it('names unknown routes by method and path only', () => {
    expect(
      toHttpError(new NotFoundException('Cannot GET /x?token=1'), { method: 'GET', url: '/x?token=1' }).body
        .error,
    ).toEqual({
      message: 'Unknown route: GET /x',
      type: 'invalid_request_error',
      param: null,
      code: 'not_found',
    });
  });

  it('maps framework errors by status', () => {
    expect(toHttpError(new HttpException('Request body is too large', 413))).toMatchObject({
      status: 413,
      body: { error: { code: 'request_too_large', type: 'invalid_request_error' } },
    });
    expect(toHttpError(new HttpException('Unsupported Media Type', 415)).body.error.message).toMatch(
      /application\/json/,
    );
    expect(toHttpError(new BadRequestException('bad')).body.error).toMatchObject({
      code: 'invalid_request',
      message: 'bad',
    });
    expect(toHttpError(new SyntaxError('Unexpected end of JSON input')).body.error.message).toBe(
      'The request body is not valid JSON: Unexpected end of JSON input',
    );
  });

  it('hides the details of unexpected errors', () => {
    expect(toHttpError(new Error('db password is hunter2'))).toEqual({
      status: 500,
      body: {
        error: {
          message: 'Internal server error.',
          type: 'server_error',
          param: null,
          code: 'internal_error',
        },
      },
    });
  });
});
