import { randomUUID } from 'node:crypto';
import type { GuardedGraphqlContext } from '../auth/auth.guard';
import type { Principal } from '../contract/principal';

/** What resolvers get as context: the HTTP request, or the WebSocket upgrade request and connection params;
 * the AuthGuard's part (principal, rate-limit mark) included. */
export interface GraphqlContext extends GuardedGraphqlContext {
  /** graphql-ws `connection_init` payload. */
  connectionParams?: Readonly<Record<string, unknown>>;
}

/** A header from the HTTP request, else the same name in graphql-ws connection params (any case). */
export function headerOf(ctx: GraphqlContext, name: string): string | undefined {
  const header = ctx.req?.headers[name];
  if (typeof header === 'string') return header;
  const params = ctx.connectionParams;
  if (!params) return undefined;
  for (const [key, value] of Object.entries(params)) {
    if (key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return undefined;
}

export function requestIdOf(ctx: GraphqlContext): string {
  return typeof ctx.req?.id === 'string' ? ctx.req.id : randomUUID();
}

/** The caller of a guarded resolver (the AuthGuard, or the graphql-ws connection, set it). */
export function viewerOf(ctx: GraphqlContext): Principal {
  if (!ctx.principal) throw new Error('viewerOf: the resolver is not behind the AuthGuard');
  return ctx.principal;
}
