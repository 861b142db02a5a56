import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { DEFAULT_CONFIG_DIR } from '../config/config.loader';
import { RedisService } from '../redis/redis.service';
import type { AccessRule } from './access.decorators';
import { AuthError } from './auth.error';
import type { Revocation, RevocationKind } from './denylist';
import { JwtVerifier } from './jwt-verifier';
import { can, OPEN_PRINCIPAL, type Principal } from '../contract/principal';
import { RateLimiter } from './rate-limiter';
import { RevocationList, type RevocationRequest } from './revocation-list';
import type { IncomingHttpHeaders } from 'node:http';
import { OriginAllowlist } from './origin-allowlist';
import { requestToken } from './credentials';
import { isLoopbackHost } from '../common/net/ip-address';

/** Releases a stream slot (idempotent). */
export type ReleaseSlot = () => void;

/** A live connection's principal, watched until its token expires or is revoked. */
interface TokenWatch {
  readonly principal: Principal;
  readonly ended: (reason: AuthError) => void;
  timer?: NodeJS.Timeout;
}

const REVOKED = 'The token has been revoked.';

/**
 * Authentication, authorization and per-user rate limits for every edge (docs/auth.md). With
 * `auth.mode: none` everyone is the open principal (allowed everything, never limited) and a warning says so
 * at boot.
 */
@Injectable()
export class AuthService implements OnModuleInit, OnApplicationShutdown {
  private verifier?: JwtVerifier;
  private revocations?: RevocationList;
  private readonly watches = new Set<TokenWatch>();
  private readonly limiter: RateLimiter;
  private readonly log: AppLogger;
  private readonly origins: OriginAllowlist;
  private slots = 0;
  readonly open: boolean;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'Auth' });
    this.open = config.auth.mode === 'none';
    this.origins = new OriginAllowlist(config.server.cors);
    const node = `${hostname()}-${randomUUID().slice(0, 8)}`;
    this.limiter = new RateLimiter(redis.client, config.redis.key_prefix, config.auth.rate_limits, node);
  }

  async onModuleInit(): Promise<void> {
    if (this.open) {
      const { host } = this.config.server;
      const reach = isLoopbackHost(host)
        ? `listening on ${host} only, this machine; server.host (HOST=0.0.0.0) would open it to the network`
        : `server.host is ${host}: anyone on the network can use it and the provider keys`;
      this.log.warn(
        `auth.mode is none: every edge is open to anyone who can reach it (${reach}). Development only; ` +
          'NODE_ENV=production refuses to boot like this. Set auth.mode: jwt (docs/auth.md).',
      );
      return;
    }
    const { auth, redis } = this.config;
    const revocations = new RevocationList(
      this.redis.client,
      {
        keyPrefix: redis.key_prefix,
        maxTokenLifetimeMs: auth.revocations.max_token_lifetime,
        resyncIntervalMs: auth.revocations.resync_interval,
        clockSkewMs: auth.jwt.clock_skew,
        connectTimeoutMs: redis.connect_timeout,
      },
      { log: this.log },
    );
    revocations.onChange(() => this.closeRevoked());
    this.revocations = revocations;
    // Key files are relative to the app's root (where config/ is). Both wait a bounded time for Redis / the IdP.
    const [verifier] = await Promise.all([
      JwtVerifier.create(auth, resolve(DEFAULT_CONFIG_DIR, '..'), { log: this.log }),
      revocations.start(),
    ]);
    this.verifier = verifier;
  }

  onApplicationShutdown(): void {
    this.limiter.close();
    this.verifier?.close();
    this.revocations?.close();
    for (const watch of this.watches) clearTimeout(watch.timer);
    this.watches.clear();
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
    return this.current(this.verifier!.verify(token));
  }

  /**
   * `authenticate`, but a token signed with a key `auth.jwt.jwks_url` has not been fetched with yet waits for
   * the refetch (at most one per cooldown) instead of being refused: for the edges that can wait (REST,
   * GraphQL over HTTP, graphql-ws connects).
   */
  async authenticateAsync(token: string | undefined): Promise<Principal> {
    if (this.open || token === undefined) return this.authenticate(token);
    return this.current(await this.verifier!.verifyAsync(token));
  }

  /** The principal, unless its token has been revoked (memory only: no Redis call). */
  private current(principal: Principal): Principal {
    if (this.revocations?.refusal(principal)) throw AuthError.unauthorized(REVOKED);
    return principal;
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

  /**
   * Throws unauthorized when a principal authenticated earlier (a WebSocket's) has expired or been revoked
   * since.
   */
  assertCurrent(principal: Principal): void {
    const left = this.acceptedForMs(principal);
    if (left !== undefined && left < 0) {
      throw AuthError.unauthorized('The token has expired; reconnect with a new one.');
    }
    this.current(principal);
  }

  /**
   * Runs `ended` once, with the reason, when the principal's token is no longer accepted: at its expiry (plus
   * the clock skew, on an unref'd timer) or when it is revoked (on any node: a revocation reaches every node's
   * memory by pub/sub). Returns its cancel. The live-connection edges close on it (/ws/stream 4401, graphql-ws
   * 4403).
   */
  whenRevokedOrExpired(principal: Principal, ended: (reason: AuthError) => void): () => void {
    if (principal.anonymous) return () => undefined;
    const watch: TokenWatch = { principal, ended };
    const left = this.acceptedForMs(principal);
    if (left !== undefined) {
      // A Node timer waits at most 2^31 - 1 ms.
      watch.timer = setTimeout(
        () =>
          this.end(
            watch,
            AuthError.unauthorized('The token expired; reconnect (or authenticate again) with a new one.'),
          ),
        Math.min(Math.max(0, left), 2_147_483_647),
      );
      watch.timer.unref();
    }
    this.watches.add(watch);
    return () => {
      clearTimeout(watch.timer);
      this.watches.delete(watch);
    };
  }

  /** Stores a revocation for every node; see RevocationList.revoke. Live connections it refuses are closed. */
  revoke(request: RevocationRequest, by: Principal): Promise<Revocation> {
    return this.revocationList().revoke(request, by.anonymous ? undefined : by.userId);
  }

  /** Lifts a revocation on every node; false when there was none. */
  liftRevocation(kind: RevocationKind, value: string): Promise<boolean> {
    return this.revocationList().lift(kind, value);
  }

  /** The revocations in force, newest first. */
  listRevocations(): Promise<Revocation[]> {
    return this.revocationList().list();
  }

  private revocationList(): RevocationList {
    if (this.revocations) return this.revocations;
    throw new CompletionError(
      RequestErrorCode.InvalidRequest,
      'auth.mode is none: there are no tokens to revoke (set auth.mode: jwt).',
    );
  }

  /** A revocation arrived: closes the watched connections whose tokens it refuses. */
  private closeRevoked(): void {
    for (const watch of this.watches) {
      if (this.revocations?.refusal(watch.principal)) this.end(watch, AuthError.unauthorized(REVOKED));
    }
  }

  private end(watch: TokenWatch, reason: AuthError): void {
    if (!this.watches.delete(watch)) return;
    clearTimeout(watch.timer);
    watch.ended(reason);
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
