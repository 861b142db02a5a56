import { timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CompletionError, RequestErrorCode } from '../common/errors/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';

const WARNED = new WeakSet<AppConfig>();

/**
 * Guards the `/admin` API with the bearer token from `admin.token` (CB_ADMIN_TOKEN). Without a configured
 * token the API is open, and a warning says so once at boot. (Issue 8 replaces this with JWT roles.)
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly token?: Buffer;

  constructor(config: AppConfig, @Inject(ROOT_LOGGER) log: AppLogger) {
    const token = config.admin.token;
    if (token) this.token = Buffer.from(token);
    else if (!WARNED.has(config)) {
      // Each module with admin routes gets its own guard instance; one warning per app is enough.
      WARNED.add(config);
      log.warn('admin.token is not set (CB_ADMIN_TOKEN): the /admin API is open to anyone who can reach it');
    }
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.token) return true;
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const presented = header?.startsWith('Bearer ') ? Buffer.from(header.slice(7).trim()) : undefined;
    if (presented && presented.length === this.token.length && timingSafeEqual(presented, this.token))
      return true;
    throw new CompletionError(
      RequestErrorCode.Unauthorized,
      'The admin API needs Authorization: Bearer <admin token>.',
    );
  }
}
