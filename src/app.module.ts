import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AdminModule } from './admin/admin.module';
import { ShutdownSequence } from './app.shutdown';
import { StreamingModule } from './streaming/streaming.module';
import { AnalyticsModule } from './analytics/analytics.module';
import { AuthModule } from './auth/auth.module';
import { SanitizationModule } from './sanitization/sanitization.module';
import { OpenAiExceptionFilter } from './common/filters/openai-exception.filter';
import type { AppLogger } from './common/logging/logger';
import { LoggingModule } from './common/logging/logging.module';
import type { AppConfig } from './config/app-config';
import { AppConfigModule } from './config/app-config.module';
import { GraphqlModule } from './graphql/graphql.module';
import { HealthModule } from './health/health.module';
import { HttpModule } from './http/http.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { RedisModule } from './redis/redis.module';
import { WsModule } from './ws/ws.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: AppLogger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggingModule.forRoot(logger),
        LifecycleModule,
        RedisModule,
        AuthModule,
        SanitizationModule,
        AnalyticsModule,
        HealthModule,
        HttpModule,
        ...(config.streaming.protocols.websocket.enabled ? [WsModule] : []),
        ...(config.streaming.protocols.graphql.enabled ? [GraphqlModule] : []),
        AdminModule.forRoot(config),
        StreamingModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: OpenAiExceptionFilter }, ShutdownSequence],
    };
  }
}
