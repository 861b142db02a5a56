import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { RevocationsController } from './revocations.controller';

/** Authentication, permissions, rate limits and token revocation: the guard of every REST and GraphQL
 * handler, the service the WebSocket edges authenticate with, and `/admin/revocations`. */
@Global()
@Module({
  controllers: [RevocationsController],
  providers: [AuthService, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [AuthService],
})
export class AuthModule {}
