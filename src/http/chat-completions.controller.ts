import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChatCompletionRequest } from '../contract/chat-request';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { ownerOf } from '../contract/principal';
import { CompletionService, type CompletionCaller } from '../streaming/completion.service';
import { StreamHub } from '../streaming/hub/stream-hub.service';
import { servedByHeaders } from './headers';
import { toChatCompletion, toCompletionState } from './openai/openai-completion.response';
import { ChatBodyPipe, ChatQueryPipe } from './chat-request.pipe';
import { abortOnClientClose } from './abort-on-close';
import { resumePointOf } from './completion-resume';
import { COMPLETION_ID_HEADER, SseResponder } from './sse/sse-responder.service';
import { PROVIDER_KEY_HEADER } from '../contract/provider-keys';
import { EventSourceAuth, Requires } from '../auth/access.decorators';
import { principalOf } from '../auth/auth.guard';
import { AuthService, withStreamSlot } from '../auth/auth.service';

const COMPLETION_ID = /^chatcmpl-[A-Za-z0-9]{1,64}$/;

/**
 * OpenAI Chat Completions over HTTP: JSON, SSE (POST), and SSE for EventSource (GET); and any completion by its
 * id, on any node (the stream hub): follow or resume its events, read its state and answer, cancel it.
 */
@Controller('v1/chat/completions')
export class ChatCompletionsController {
  constructor(
    private readonly completions: CompletionService,
    private readonly hub: StreamHub,
    private readonly sse: SseResponder,
    private readonly auth: AuthService,
  ) {}

  @Post()
  @HttpCode(200)
  @Requires('completion', 'write')
  async create(
    @Body(ChatBodyPipe) body: ChatCompletionRequest,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    if (body.stream) return this.stream(body, request, reply, false);
    const result = await this.completions.complete(body, this.caller(request, reply, 'http'));
    await reply
      .headers({ ...servedByHeaders(result), [COMPLETION_ID_HEADER]: result.completionId })
      .send(toChatCompletion(result));
  }

  @Get('stream')
  @Requires('completion', 'write')
  @EventSourceAuth()
  async eventSource(
    @Query(ChatQueryPipe) body: ChatCompletionRequest,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const resume = resumePointOf(request, undefined);
    if (resume) {
      // An EventSource reconnecting: it resumes the completion it was reading, never starts a second one.
      // One that has ended and gone (or an id without its completion) gets 204, which tells it to stop.
      if (
        resume.completionId === undefined ||
        (await this.delivered(resume.completionId, resume.after, request))
      )
        return void (await reply.status(204).send());
      return this.follow(resume.completionId, resume.after, request, reply, true, true);
    }
    return this.stream(body, request, reply, true);
  }

  @Get(':id/events')
  @Requires('completion', 'read')
  @EventSourceAuth()
  async events(
    @Param('id') id: string,
    @Query('after') after: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const completionId = checkedId(id);
    const resume = resumePointOf(request, after);
    if (resume?.completionId !== undefined && resume.completionId !== completionId) {
      throw new CompletionError(
        RequestErrorCode.InvalidRequest,
        `Last-Event-ID names ${resume.completionId}, not this completion.`,
        { param: 'Last-Event-ID' },
      );
    }
    return this.follow(completionId, resume?.after ?? 0, request, reply, true, false);
  }

  @Get(':id')
  @Requires('completion', 'read')
  async state(@Param('id') id: string, @Req() request: FastifyRequest): Promise<unknown> {
    return toCompletionState(await this.hub.summary(checkedId(id), principalOf(request)));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Requires('completion', 'write')
  async cancel(@Param('id') id: string, @Req() request: FastifyRequest): Promise<unknown> {
    const completionId = checkedId(id);
    const viewer = principalOf(request);
    const cancelled = await this.hub.cancel(completionId, viewer);
    return { ...toCompletionState(await this.hub.summary(completionId, viewer)), cancelled };
  }

  /** The completion starts lazily, on first read, so a refusal by the SSE edge leaves nothing behind. */
  private stream(
    body: ChatCompletionRequest,
    request: FastifyRequest,
    reply: FastifyReply,
    eventSource: boolean,
  ): Promise<void> {
    return withStreamSlot(this.auth, principalOf(request), request.id, () => {
      const stream = this.completions.start(body, this.caller(request, reply, 'sse'));
      const includeUsage = body.stream_options?.include_usage === true;
      return this.sse.send(stream, request, reply, { includeUsage, eventSource });
    });
  }

  /** A completion's events as SSE, history first (those after `after` written), to its end. */
  private follow(
    completionId: string,
    after: number,
    request: FastifyRequest,
    reply: FastifyReply,
    eventSource: boolean,
    goneIsEnd: boolean,
  ): Promise<void> {
    const viewer = principalOf(request);
    return withStreamSlot(this.auth, viewer, request.id, async () => {
      let stream;
      try {
        stream = await this.hub.follow(completionId, { viewer, signal: abortOnClientClose(reply) });
      } catch (err) {
        if (goneIsEnd && err instanceof CompletionError && err.code === RequestErrorCode.NotFound) {
          return void (await reply.status(204).send());
        }
        throw err;
      }
      const includeUsage =
        request.query !== null && (request.query as Record<string, unknown>)['include_usage'] === 'true';
      await this.sse.send(stream, request, reply, {
        includeUsage,
        eventSource,
        resumeAfter: after,
        follower: true,
      });
    });
  }

  /** Whether a reconnecting EventSource already has all of a completion (or it is gone): then it should stop. */
  private async delivered(completionId: string, after: number, request: FastifyRequest): Promise<boolean> {
    try {
      const summary = await this.hub.summary(completionId, principalOf(request));
      return summary.status !== 'running' && (summary.events ?? 0) <= after;
    } catch (err) {
      if (err instanceof CompletionError && err.code === RequestErrorCode.NotFound) return true;
      throw err;
    }
  }

  private caller(request: FastifyRequest, reply: FastifyReply, protocol: 'sse' | 'http'): CompletionCaller {
    const keyHeader = request.headers[PROVIDER_KEY_HEADER];
    const principal = principalOf(request);
    return {
      requestId: request.id,
      protocol,
      principal,
      owner: ownerOf(principal),
      providerKey: Array.isArray(keyHeader) ? keyHeader[0] : keyHeader,
      signal: abortOnClientClose(reply),
      detach: protocol === 'sse' ? 'resume' : 'followed',
      log: request.log,
    };
  }
}

function checkedId(id: string): string {
  if (COMPLETION_ID.test(id)) return id;
  throw new CompletionError(
    RequestErrorCode.NotFound,
    `No completion ${id.slice(0, 80)}: ids look like chatcmpl-….`,
    {
      param: 'completionId',
    },
  );
}
