import { JwtService } from '@nestjs/jwt';
import type { ConfigLayer } from '../../src/config/config.loader';

/** The HS256 secret of the e2e apps that require tokens. */
export const TEST_JWT_SECRET = 'e2e-only-secret-0123456789abcdef0123456789';

/** Config that turns JWT auth on (HS256, the test secret), plus any `auth` overrides. */
export function jwtAuth(auth: Record<string, unknown> = {}): ConfigLayer {
  return {
    auth: { mode: 'jwt', ...auth, jwt: { secret: TEST_JWT_SECRET, algorithms: ['HS256'], ...jwtOf(auth) } },
  };
}

function jwtOf(auth: Record<string, unknown>): Record<string, unknown> {
  const jwt = auth.jwt;
  return typeof jwt === 'object' && jwt !== null ? (jwt as Record<string, unknown>) : {};
}

/** A signed token with these claims (`sub` defaults to alice), valid for `ttlSeconds` (or expired if < 0). */
export function token(
  claims: Record<string, unknown> = {},
  options: { ttlSeconds?: number; secret?: string } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  return new JwtService().sign(
    { sub: 'alice', iat: now, exp: now + (options.ttlSeconds ?? 600), ...claims },
    { secret: options.secret ?? TEST_JWT_SECRET, algorithm: 'HS256' },
  );
}

export const bearer = (jwt: string): Record<string, string> => ({ authorization: `Bearer ${jwt}` });
