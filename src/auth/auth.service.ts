import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { RequestErrorCode } from '../common/errors/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { DEFAULT_CONFIG_DIR } from '../config/config.loader';
import { RedisService } from '../redis/redis.service';
import type { AccessRule } from './access.decorators';
import { AuthError } from './auth.error';
import { JwtVerifier } from './jwt-verifier';
import { can, OPEN_PRINCIPAL, type Principal } from './principal';
import { RateLimiter } from './rate-limiter';
import type { IncomingHttpHeaders } from 'node:http';
import { OriginPolicy } from '../http/origin-policy';
import { cookieToken, queryToken, requestToken } from './credentials';

/** Releases a stream slot (idempotent). */
export type ReleaseSlot = () => void;

/**
 * Authentication, authorization and per-user rate limits for every edge (README "Authentication"). With
 * `auth.mode: none` everyone is the open principal (allowed everything, never limited) and a warning says so
 * at boot.
 */
@Injectable()
export class AuthService implements OnModuleInit, OnApplicationShutdown {
  private verifier?: JwtVerifier;
  private readonly limiter: RateLimiter;
  private readonly log: AppLogger;
  private readonly origins: OriginPolicy;
  private slots = 0;
  readonly open: boolean;

  constructor(
    private readonly config: AppConfig,
    redis: RedisService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'Auth' });
    this.open = config.auth.mode === 'none';
    this.origins = new OriginPolicy(config.server.cors);
    const node = `${hostname()}-${randomUUID().slice(0, 8)}`;
    this.limiter = new RateLimiter(redis.client, config.redis.key_prefix, config.auth.rate_limits, node);
  }

  async onModuleInit(): Promise<void> {
    if (this.open) {
      this.log.warn(
        'auth.mode is none: every edge is open to anyone who can reach it (development only; ' +
          'NODE_ENV=production refuses to boot like this). Set auth.mode: jwt (README "Authentication").',
      );
      return;
    }
    // Key files are relative to the app's root (where config/ is).
    this.verifier = await JwtVerifier.create(this.config.auth, resolve(DEFAULT_CONFIG_DIR, '..'));
  }

  onApplicationShutdown(): void {
    this.limiter.close();
  }

  /** The caller a token names; the open principal when auth is off. Throws unauthorized. */
  authenticate(token: string | undefined): Principal {
    if (this.open) return OPEN_PRINCIPAL;
    if (token === undefined) {
      throw new AuthError(
        RequestErrorCode.Unauthorized,
        'Authentication required: send Authorization: Bearer <token>.',
      );
    }
    // onModuleInit ran before any edge listens.
    return this.verifier!.verify(token);
  }

  /** Throws forbidden unless the principal satisfies the rule. */
  authorize(principal: Principal, rule: AccessRule): void {
    switch (rule.kind) {
      case 'public':
      case 'user':
        return;
      case 'admin':
        if (principal.admin) return;
        throw forbidden('This needs the admin role.');
      case 'stream':
        if (can(principal, rule.type, rule.access)) return;
        throw forbidden(`This needs the ${rule.type}:${rule.access} permission.`);
    }
  }

  /** Counts one request against the user's per-minute limit; throws rate_limit_exceeded (429) past it. */
  hit(principal: Principal): Promise<void> {
    return this.limiter.hit(principal);
  }

  /**
   * Takes one of the user's concurrent-stream slots (shared by every node); throws rate_limit_exceeded. The
   * slot's id is made here, unique per acquisition (`label` only names it): an id a client chose, such as its
   * X-Request-Id, would let two streams share one slot.
   */
  acquireStream(principal: Principal, label: string): Promise<ReleaseSlot> {
    return this.limiter.acquireStream(principal, `${label}#${++this.slots}`);
  }

  /**
   * The token of an HTTP request or WebSocket upgrade: the Authorization header; where `urlAndCookie`, also
   * the access_token query parameter and the cookie. A cookie is ambient (a browser sends it to any page's
   * requests), so it counts only from this server's own pages or a listed origin: not from `*`, a refused
   * origin, or a request a browser marks cross-site.
   */
  tokenOf(headers: IncomingHttpHeaders, url: string | undefined, urlAndCookie: boolean): string | undefined {
    if (!urlAndCookie) return requestToken(headers, url, undefined);
    return (
      requestToken(headers, url, undefined) ??
      queryToken(url) ??
      (this.cookieAllowed(headers) ? cookieToken(headers.cookie, this.config.auth.cookie_name) : undefined)
    );
  }

  private cookieAllowed(headers: IncomingHttpHeaders): boolean {
    const verdict = this.origins.verdict(headers);
    if (verdict === 'same' || verdict === 'listed') return true;
    if (verdict !== 'absent') return false;
    const site = headers['sec-fetch-site'];
    return site === undefined || site === 'same-origin' || site === 'same-site' || site === 'none';
  }

  /** Throws unauthorized when a principal authenticated earlier (a WebSocket's) has expired since. */
  assertCurrent(principal: Principal): void {
    if (principal.expiresAt !== undefined && principal.expiresAt + this.clockSkewMs < Date.now()) {
      throw AuthError.unauthorized('The token has expired; reconnect with a new one.');
    }
  }

  /** How long after its expiry a token is still accepted (the configured clock skew). */
  get clockSkewMs(): number {
    return this.config.auth.jwt.clock_skew;
  }
}

export function forbidden(message: string): AuthError {
  return AuthError.forbidden(message);
}

/**
 * Runs `stream` holding one of the principal's concurrent-stream slots for as long as it runs; throws
 * rate_limit_exceeded (before anything is written) when the user holds all of theirs.
 */
export async function withStreamSlot(
  auth: AuthService,
  principal: Principal,
  streamId: string,
  stream: () => Promise<void>,
): Promise<void> {
  const release = await auth.acquireStream(principal, streamId);
  try {
    await stream();
  } finally {
    release();
  }
}
