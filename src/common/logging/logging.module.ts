import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { AppLogger } from './logger';

export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/** The root structured logger (the same pino instance Fastify logs requests with). */
@Global()
@Module({})
export class LoggingModule {
  static forRoot(logger: AppLogger): DynamicModule {
    return {
      module: LoggingModule,
      providers: [{ provide: ROOT_LOGGER, useValue: logger }],
      exports: [ROOT_LOGGER],
    };
  }
}
