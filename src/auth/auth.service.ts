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
import { requestToken } from './credentials';

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
        throw AuthError.forbidden('This needs the admin role.');
      case 'stream':
        if (can(principal, rule.type, rule.access)) return;
        throw AuthError.forbidden(`This needs the ${rule.type}:${rule.access} permission.`);
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
    const cookieName = this.cookieAllowed(headers) ? this.config.auth.cookie_name : undefined;
    return requestToken(headers, url, { cookieName });
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
    const left = this.acceptedForMs(principal);
    if (left !== undefined && left < 0) {
      throw AuthError.unauthorized('The token has expired; reconnect with a new one.');
    }
  }

  /**
   * Runs `expired` once the principal's token is no longer accepted (its expiry plus the clock skew), on an
   * unref'd timer; returns its cancel. Nothing for a principal that never expires.
   */
  whenExpired(principal: Principal, expired: () => void): () => void {
    const left = this.acceptedForMs(principal);
    if (left === undefined) return () => undefined;
    // A Node timer waits at most 2^31 - 1 ms.
    const timer = setTimeout(expired, Math.min(Math.max(0, left), 2_147_483_647));
    timer.unref();
    return () => clearTimeout(timer);
  }

  /** How long the principal's token is still accepted (negative once it is not); undefined: no expiry. */
  private acceptedForMs(principal: Principal): number | undefined {
    if (principal.expiresAt === undefined) return undefined;
    return principal.expiresAt + this.config.auth.jwt.clock_skew - Date.now();
  }
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
