import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type FastifyRequest, LogController } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { OriginPolicy } from './http/origin-policy';
import { UpgradeRouter } from './ws/upgrade-router';
import { MetricsService } from './analytics/metrics.service';
import { createRootLogger } from './app.logger';
import type { AppLogger } from './common/logging/logger';
import { lazyRequestLogger } from './common/logging/lazy-child';
import { PinoNestLogger } from './common/logging/pino-nest-logger';
import type { AppConfig } from './config/app-config';
import { AppModule } from './app.module';
import { REQUEST_ID_HEADER } from './http/headers';
import { StreamWsAdapter } from './ws/stream-ws.adapter';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './common/json-depth';
import { RequestErrorCode } from './contract/error-code';
import {
  bodyTimeout,
  clientErrorHandler,
  CONNECTION_CHECK_INTERVAL_MS,
  installServerLimits,
  isOverConnectionCap,
  refusalBody,
  TOO_MANY_CONNECTIONS_MESSAGE,
} from './http/server-limits';

const VALID_REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface CreateAppOptions {
  logger?: AppLogger;
}

/** Builds the whole service on Fastify (used by main.ts, the e2e tests and the benchmark). */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  const logger = options.logger ?? createRootLogger(config);
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    bodyLimit: config.server.body_limit,
    trustProxy: config.server.trust_proxy,
    // Parser refusals (malformed HTTP, 431, timeouts) in OpenAI's error shape.
    clientErrorHandler,
    // Larger request headers are refused by Node with 431.
    http: {
      maxHeaderSize: config.server.max_header_size,
      connectionsCheckingInterval: CONNECTION_CHECK_INTERVAL_MS,
    },
    logController: new LogController({
      requestIdLogLabel: 'request_id',
      // Probes and scrapes every few seconds would drown the request log.
      disableRequestLogging: (req) => req.url.startsWith('/health/') || req.url === '/metrics',
    }),
    // A request's child logger is made when the request first writes a line at an enabled level.
    childLoggerFactory: lazyRequestLogger,
    genReqId: (req: IncomingMessage) => {
      const given = req.headers[REQUEST_ID_HEADER];
      return typeof given === 'string' && VALID_REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logger), adapter, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });

  const metrics = app.get(MetricsService);
  const fastify = app.getHttpAdapter().getInstance();
  installServerLimits(app.getHttpServer(), config.server);
  fastify.addHook('onRequest', bodyTimeout(config.server.request_timeout));
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    if (isOverConnectionCap(request.raw.socket)) {
      await reply
        .status(429)
        .header('connection', 'close')
        .send(refusalBody(request, 'too_many_connections', TOO_MANY_CONNECTIONS_MESSAGE, 'rate_limit_error'));
    }
  });
  // Every JSON body, before any handler, DTO or class-transformer recurses into it.
  fastify.addHook('preValidation', async (request, reply) => {
    if (!nestsDeeperThan(request.body)) return;
    await reply
      .status(400)
      .send(
        refusalBody(
          request,
          RequestErrorCode.InvalidRequest,
          `The request body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels.`,
          'invalid_request_error',
        ),
      );
  });
  const origins = new OriginPolicy(config.server.cors);
  fastify.addHook('onRequest', origins.onRequest);
  UpgradeRouter.for(app.getHttpServer()).allowOrigin = (request) =>
    origins.verdict(request.headers) !== 'refused';
  fastify.addHook('onResponse', async (request: FastifyRequest, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.labels(request.method, route, String(reply.statusCode)).inc();
    metrics.httpDuration.labels(request.method, route).observe(reply.elapsedTime / 1000);
  });

  // Frames up to max_frame_size are read (and refused with a message past body_limit); larger ones close.
  app.useWebSocketAdapter(new StreamWsAdapter(app, config.server.max_frame_size));
  try {
    await app.init();
  } catch (err) {
    // A module refused to start (a broken workflow file, ...): release what the others opened (Redis).
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}
