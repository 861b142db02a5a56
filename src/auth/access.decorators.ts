import { type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { StreamType } from '../contract/principal';
import type { Access } from '../contract/principal';

/**
 * What a handler requires. Every controller and resolver handler must carry one (at class or method level):
 * the AuthGuard refuses a handler without any, and `access.spec.ts` fails the build for one.
 */
export type AccessRule =
  | { kind: 'public' }
  | { kind: 'user' }
  | { kind: 'stream'; type: StreamType; access: Access }
  | { kind: 'admin' };

export const ACCESS_METADATA = 'cb:access';
export const QUERY_TOKEN_METADATA = 'cb:query-token';

/** No credentials needed (probes, metrics). */
export const Public = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS_METADATA, { kind: 'public' } satisfies AccessRule);

/** Any authenticated user (the model list). */
export const Authenticated = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS_METADATA, { kind: 'user' } satisfies AccessRule);

/** `read` or `write` on a stream type (completion, workflow, agent, system). */
export const Requires = (type: StreamType, access: Access): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS_METADATA, { kind: 'stream', type, access } satisfies AccessRule);

/** The admin role. */
export const AdminOnly = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS_METADATA, { kind: 'admin' } satisfies AccessRule);

/**
 * A GET event stream browsers open with EventSource, which cannot send headers: the token may also come as the
 * `access_token` query parameter or the `auth.cookie_name` cookie. Nowhere else are tokens read from URLs.
 */
export const EventSourceAuth = (): MethodDecorator => SetMetadata(QUERY_TOKEN_METADATA, true);

/** The rule of a handler (method level wins over class level). */
export function accessRuleOf(
  reflector: Reflector,
  handler: ReturnType<ExecutionContext['getHandler']>,
  owner: ReturnType<ExecutionContext['getClass']>,
): AccessRule | undefined {
  return reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_METADATA, [handler, owner]);
}
