import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, RequestErrorCode } from '../../contract/error-code';
import { httpMappingFor, openAiErrorBody, type OpenAiErrorBody, typeForStatus } from '../errors/openai-error';
import type { AppLogger } from '../logging/logger';
import { ROOT_LOGGER } from '../logging/logging.module';

export interface HttpErrorResponse {
  status: number;
  body: OpenAiErrorBody;
  retryAfterMs?: number;
}

interface FrameworkError {
  statusCode: number;
  code?: string;
  message: string;
}

const FASTIFY_CODES: Record<string, { code: RequestErrorCode; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: RequestErrorCode.RequestTooLarge,
    message: 'The request body is too large.',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: RequestErrorCode.UnsupportedMediaType,
    message: 'Send the request body as JSON with Content-Type: application/json.',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: RequestErrorCode.InvalidRequest,
    message: 'The request body is empty.',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: RequestErrorCode.InvalidRequest },
};

/** Any thrown value -> status + OpenAI error JSON. Internal details never reach the client. */
export function toHttpError(
  exception: unknown,
  request?: { method: string; url: string },
): HttpErrorResponse {
  if (exception instanceof DomainError) {
    const { status, type } = httpMappingFor(exception.code);
    return {
      status,
      body: openAiErrorBody(exception.code, exception.message, type, exception.param, exception.deadLetterId),
      retryAfterMs: exception.retryAfterMs,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === 404 && request) {
      const path = request.url.split('?')[0] ?? request.url;
      return {
        status,
        body: openAiErrorBody(
          RequestErrorCode.NotFound,
          `Unknown route: ${request.method} ${path}`,
          typeForStatus(404),
        ),
      };
    }
    const message =
      status === 415 ? FASTIFY_CODES.FST_ERR_CTP_INVALID_MEDIA_TYPE!.message! : messageOf(exception);
    return { status, body: openAiErrorBody(codeForStatus(status), message, typeForStatus(status)) };
  }
  if (exception instanceof SyntaxError) {
    return invalidJson(exception.message);
  }
  if (isFrameworkError(exception) && exception.statusCode < 500) {
    if (exception.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return invalidJson(exception.message);
    const known = exception.code ? FASTIFY_CODES[exception.code] : undefined;
    if (known) {
      const { status, type } = httpMappingFor(known.code);
      return { status, body: openAiErrorBody(known.code, known.message ?? exception.message, type) };
    }
    const status = exception.statusCode;
    return { status, body: openAiErrorBody(codeForStatus(status), exception.message, typeForStatus(status)) };
  }
  return { status: 500, body: openAiErrorBody('internal_error', 'Internal server error.', 'server_error') };
}

function invalidJson(detail: string): HttpErrorResponse {
  return {
    status: 400,
    body: openAiErrorBody(
      RequestErrorCode.InvalidRequest,
      `The request body is not valid JSON: ${detail}`,
      'invalid_request_error',
    ),
  };
}

function codeForStatus(status: number): string {
  if (status === 404) return RequestErrorCode.NotFound;
  if (status === 413) return RequestErrorCode.RequestTooLarge;
  if (status === 415) return RequestErrorCode.UnsupportedMediaType;
  return status >= 500 ? 'internal_error' : RequestErrorCode.InvalidRequest;
}

function messageOf(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : exception.message;
}

function isFrameworkError(value: unknown): value is FrameworkError {
  return value instanceof Error && typeof (value as Partial<FrameworkError>).statusCode === 'number';
}

export function sendHttpError(reply: FastifyReply, error: HttpErrorResponse): void {
  if (error.retryAfterMs !== undefined)
    reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
  void reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.body);
}

/** The HTTP protocol's exception filter: every error leaves as OpenAI error JSON. */
@Catch()
export class OpenAiExceptionFilter implements ExceptionFilter {
  constructor(@Inject(ROOT_LOGGER) private readonly logger: AppLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    // GraphQL resolvers: the error goes back to GraphQL, which formats it (GraphqlModule's formatError).
    if (host.getType<string>() !== 'http') throw exception;
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const error = toHttpError(exception, request);
    const log = request.log ?? this.logger;
    if (error.status >= 500) log.error({ err: exception }, 'request failed');
    else log.debug({ status: error.status, code: error.body.error.code }, 'request rejected');
    if (reply.raw.destroyed) return; // the client is gone: nobody to answer
    if (reply.sent || reply.raw.headersSent) {
      if (!reply.raw.writableEnded) reply.raw.end();
      return;
    }
    sendHttpError(reply, error);
  }
}
