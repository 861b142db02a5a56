import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { accessRuleOf, QUERY_TOKEN_METADATA } from './access.decorators';
import { AuthError } from './auth.error';
import { AuthService } from './auth.service';
import { bearerToken } from './credentials';
import type { Principal } from '../contract/principal';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the AuthGuard before any handler runs. */
    principal?: Principal;
  }
}

/**
 * The one guard of every REST handler and GraphQL resolver (registered as APP_GUARD): authenticates the
 * caller, checks the handler's access rule, and counts the request against the caller's rate limit. A handler
 * without an access rule is refused (fail closed), and `access.spec.ts` makes that a build failure.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly auth: AuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = accessRuleOf(this.reflector, context.getHandler(), context.getClass());
    if (!rule) throw AuthError.forbidden('This endpoint has no access rule; it is refused.');
    if (rule.kind === 'public') return true;
    if (context.getType<string>() === 'graphql') return this.graphql(context, rule);
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const eventSource = this.reflector.get<boolean | undefined>(QUERY_TOKEN_METADATA, context.getHandler());
    const token = this.auth.tokenOf(
      request.headers,
      request.url,
      eventSource === true && request.method === 'GET',
    );
    const principal = await this.auth.authenticateAsync(token);
    this.auth.authorize(principal, rule);
    request.principal = principal;
    await this.auth.hit(principal);
    return true;
  }

  /** Over graphql-ws the connection authenticated once (onConnect); over HTTP each request does. One
   * operation counts once against the rate limit, however many root fields it has. */
  private async graphql(
    context: ExecutionContext,
    rule: Exclude<ReturnType<typeof accessRuleOf>, undefined>,
  ): Promise<boolean> {
    const ctx = GqlExecutionContext.create(context).getContext<GuardedGraphqlContext>();
    ctx.principal ??= await this.auth.authenticateAsync(bearerToken(ctx.req?.headers.authorization));
    // A graphql-ws connection authenticated once: its token may have expired or been revoked since.
    this.auth.assertCurrent(ctx.principal);
    this.auth.authorize(ctx.principal, rule);
    if (!ctx.counted) {
      ctx.counted = true;
      await this.auth.hit(ctx.principal);
    }
    return true;
  }
}

/**
 * What the guard reads and writes on a GraphQL operation's context (the graphql edge's context extends it): the
 * HTTP request's headers, and the principal and rate-limit mark it leaves for the resolvers.
 */
export interface GuardedGraphqlContext {
  req?: { id?: string; headers: IncomingHttpHeaders };
  /** Who is calling: set when the graphql-ws connection was accepted, or by the guard over HTTP. */
  principal?: Principal;
  /** The operation has been counted against the caller's rate limit. */
  counted?: boolean;
}

/** The caller of a guarded REST handler (the AuthGuard set it). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('principalOf: the handler is not behind the AuthGuard');
  return request.principal;
}
