import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/app-config';

export interface DevTokenOptions {
  sub: string;
  permissions?: string[];
  roles?: string[];
  tier?: string;
  scope?: 'own' | 'all';
  eventTypes?: string[];
  sanitize?: boolean;
  /** Seconds. */
  ttl: number;
}

/**
 * A development token signed with the configured HS256 secret, with the configured claim names and issuer /
 * audience, so the running service accepts it (`npm run token`). Not for production: real tokens come from
 * the identity provider.
 */
export function signDevToken(config: AppConfig, options: DevTokenOptions): string {
  const { jwt, claims } = config.auth;
  if (!jwt.secret) {
    throw new Error(
      'No HS256 secret: set the env var auth.jwt.secret_env names (CB_JWT_SECRET), as the service has it.',
    );
  }
  const payload: Record<string, unknown> = { [claims.user_id]: options.sub };
  if (options.permissions) payload[claims.permissions] = options.permissions;
  if (options.roles) payload[claims.roles] = options.roles;
  if (options.tier) payload[claims.tier] = options.tier;
  if (options.scope) payload[claims.resource_scope] = options.scope;
  if (options.eventTypes) payload[claims.event_types] = options.eventTypes;
  if (options.sanitize !== undefined) payload[claims.sanitize] = options.sanitize;
  return new JwtService().sign(payload, {
    secret: jwt.secret,
    algorithm: 'HS256',
    expiresIn: options.ttl,
    ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
    ...(jwt.audience?.[0] ? { audience: jwt.audience[0] } : {}),
  });
}
