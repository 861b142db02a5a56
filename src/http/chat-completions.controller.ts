import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChatCompletionRequest } from '../contract/chat-request';
import { CompletionService, type CompletionContext } from '../streaming/completion.service';
import { servedByHeaders } from './headers';
import { toChatCompletion } from './openai/openai-completion.response';
import { ChatBodyPipe, ChatQueryPipe } from './chat-request.pipe';
import { abortOnClientClose } from './abort-on-close';
import { SseResponder } from './sse/sse-responder.service';
import { PROVIDER_KEY_HEADER } from '../contract/provider-keys';
import { ProviderRegistry } from '../providers/provider-registry.service';
import { EventSourceAuth, Requires } from '../auth/access.decorators';
import { principalOf } from '../auth/auth.guard';
import { allowedEvents } from '../auth/event-visibility';
import { AuthService, withStreamSlot } from '../auth/auth.service';

/** OpenAI Chat Completions over HTTP: JSON, SSE (POST), and SSE for EventSource (GET). */
@Controller('v1/chat/completions')
export class ChatCompletionsController {
  constructor(
    private readonly completions: CompletionService,
    private readonly sse: SseResponder,
    private readonly providers: ProviderRegistry,
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
    const result = await this.completions.complete(body, this.context(request, reply, 'http'));
    await reply.headers(servedByHeaders(result)).send(toChatCompletion(result));
  }

  @Get('stream')
  @Requires('completion', 'write')
  @EventSourceAuth()
  async eventSource(
    @Query(ChatQueryPipe) body: ChatCompletionRequest,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    if (request.headers['last-event-id'] !== undefined) {
      // An EventSource reconnecting after the stream ended (or broke): 204 tells it to stop, rather than
      // silently starting the same completion again.
      await reply.status(204).send();
      return;
    }
    return this.stream(body, request, reply, true);
  }

  /** The completion starts lazily, on first read, so a refusal by the SSE edge leaves nothing behind. */
  private stream(
    body: ChatCompletionRequest,
    request: FastifyRequest,
    reply: FastifyReply,
    eventSource: boolean,
  ): Promise<void> {
    const principal = principalOf(request);
    return withStreamSlot(this.auth, principal, request.id, () => {
      const stream = allowedEvents(
        this.completions.start(body, this.context(request, reply, 'sse')),
        principal.eventTypes,
      );
      const includeUsage = body.stream_options?.include_usage === true;
      return this.sse.send(stream, request, reply, { includeUsage, eventSource });
    });
  }

  private context(request: FastifyRequest, reply: FastifyReply, protocol: 'sse' | 'http'): CompletionContext {
    const keyHeader = request.headers[PROVIDER_KEY_HEADER];
    const { sanitize } = principalOf(request);
    return {
      ...(sanitize === undefined ? {} : { sanitize }),
      requestId: request.id,
      protocol,
      signal: abortOnClientClose(reply),
      log: request.log,
      providerKeys: this.providers.parseKeys(Array.isArray(keyHeader) ? keyHeader[0] : keyHeader),
    };
  }
}
