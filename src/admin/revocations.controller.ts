import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { AdminOnly } from '../auth/access.decorators';
import { principalOf } from '../auth/auth.guard';
import { AuthService } from '../auth/auth.service';
import {
  parseRevocationKind,
  parseRevocationListQuery,
  parseRevocationRequest,
  parseRevocationValue,
  type RevocationPage,
  revocationPage,
  type RevocationView,
  revocationView,
} from './revocations.dto';

/**
 * The token denylist: revoke one token (`jti`) or a user's tokens issued before now (`sub`), list, lift. A
 * revocation is in force on this node when the answer comes, and on every other node a pub/sub message later;
 * live /ws/stream and graphql-ws connections of a revoked token are closed. Redis away: 503.
 */
@Controller('admin/revocations')
@AdminOnly()
export class RevocationsController {
  constructor(private readonly auth: AuthService) {}

  @Post()
  @HttpCode(201)
  async revoke(@Body() body: unknown, @Req() request: FastifyRequest): Promise<{ data: RevocationView }> {
    const revocation = await this.auth.revoke(parseRevocationRequest(body), principalOf(request));
    return { data: revocationView(revocation) };
  }

  @Get()
  async list(@Query() query: unknown): Promise<RevocationPage> {
    const parsed = parseRevocationListQuery(query);
    return revocationPage(await this.auth.listRevocations(), parsed);
  }

  @Delete(':kind/:value')
  @HttpCode(204)
  async lift(@Param('kind') kind: string, @Param('value') value: string): Promise<void> {
    const parsedKind = parseRevocationKind(kind);
    const parsedValue = parseRevocationValue(parsedKind, value);
    if (!(await this.auth.liftRevocation(parsedKind, parsedValue))) {
      throw new CompletionError(RequestErrorCode.NotFound, `No revocation of ${kind} ${value}.`, {
        param: 'value',
      });
    }
  }
}
