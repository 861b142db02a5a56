import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';

/** Authentication, permissions, rate limits and token revocation: the guard of every REST and GraphQL
 * handler, and the service the WebSocket edges authenticate with (`/admin/revocations` is the admin edge's). */
@Global()
@Module({
  providers: [AuthService, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [AuthService],
})
export class AuthModule {}
