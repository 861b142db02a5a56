import { Args, Context, ID, Int, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { PROVIDER_KEY_HEADER } from '../../contract/provider-keys';
import { validateChatRequest } from '../../streaming/dto/validate-chat-request';
import {
  type CompletionSummary,
  PublishedCompletions,
  type PublishedEvent,
} from '../../streaming/published-completions.service';
import type { BusEnvelope, BusSubscription } from '../../events/bus-subscription';
import { toCompletionEvent, usageOf } from '../event-mappers';
import { type GraphqlContext, headerOf, requestIdOf, viewerOf } from '../graphql-context';
import { afterOf, SubscriptionGate } from '../subscription-gate';
import {
  CompletionHandle,
  CompletionInput,
  CompletionResult,
  CompletionStatus,
  CompletionStreamEvent,
} from '../types/completion.types';
import { Requires } from '../../auth/access.decorators';

/** The GraphQL edge for completions: start one, follow its events, read its result, cancel it. */
@Resolver(() => CompletionStreamEvent)
export class CompletionsResolver {
  constructor(
    private readonly published: PublishedCompletions,
    private readonly gate: SubscriptionGate,
  ) {}

  @Mutation(() => CompletionHandle, {
    description: 'Starts a completion; its events flow to completionStream (kept for late subscribers).',
  })
  @Requires('completion', 'write')
  async createCompletion(
    @Args('input') input: CompletionInput,
    @Context() ctx: GraphqlContext,
  ): Promise<CompletionHandle> {
    const request = validateChatRequest(toRequestBody(input));
    const summary = await this.published.start(request, {
      requestId: requestIdOf(ctx),
      principal: viewerOf(ctx),
      providerKey: headerOf(ctx, PROVIDER_KEY_HEADER),
    });
    return {
      completionId: summary.completionId,
      model: summary.model,
      provider: summary.provider,
      status: CompletionStatus.RUNNING,
      createdAt: new Date(summary.createdAt),
    };
  }

  @Mutation(() => Boolean, { description: 'Cancels a running completion; false if it had already ended.' })
  @Requires('completion', 'write')
  cancelCompletion(
    @Args('completionId', { type: () => ID }) completionId: string,
    @Context() ctx: GraphqlContext,
  ): Promise<boolean> {
    return this.published.cancel(completionId, viewerOf(ctx));
  }

  @Query(() => CompletionResult, { description: "A completion's state, and its whole answer once ended." })
  @Requires('completion', 'read')
  async completion(
    @Args('completionId', { type: () => ID }) completionId: string,
    @Context() ctx: GraphqlContext,
  ): Promise<CompletionResult> {
    return toResult(await this.published.summary(completionId, viewerOf(ctx)));
  }

  @Subscription(() => CompletionStreamEvent, {
    description:
      "A completion's events, from the first (kept ones are replayed) to COMPLETED or ERROR; with " +
      'afterSequence, only those after it (resuming after a reconnect).',
    resolve: (envelope: BusEnvelope<PublishedEvent>) => toCompletionEvent(envelope),
  })
  @Requires('completion', 'read')
  completionStream(
    @Args('completionId', { type: () => ID }) completionId: string,
    @Context() ctx: GraphqlContext,
    @Args('afterSequence', { type: () => Int, nullable: true }) afterSequence?: number,
  ): Promise<BusSubscription<PublishedEvent>> {
    const after = afterOf(afterSequence);
    const viewer = viewerOf(ctx);
    return this.gate.open(viewer, (overflow) =>
      this.published.follow(completionId, { overflow, viewer, ...after }),
    );
  }
}

/** The GraphQL input as the OpenAI request body, for the same validation as REST. */
function toRequestBody(input: CompletionInput): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: input.model,
    messages: input.messages.map((m) => ({
      role: m.role,
      content: m.content ?? null,
      ...(m.name === undefined || m.name === null ? {} : { name: m.name }),
      ...(m.toolCallId === undefined || m.toolCallId === null ? {} : { tool_call_id: m.toolCallId }),
      ...(m.toolCalls === undefined || m.toolCalls === null ? {} : { tool_calls: m.toolCalls }),
    })),
    stream: true,
  };
  const optional: Array<[string, unknown]> = [
    ['models', input.models],
    ['temperature', input.temperature],
    ['top_p', input.topP],
    ['max_tokens', input.maxTokens],
    ['stop', input.stop],
    ['seed', input.seed],
    ['tools', input.tools],
    ['tool_choice', input.toolChoice],
    ['reasoning', input.reasoning],
    ['provider', input.provider],
  ];
  for (const [key, value] of optional) if (value !== undefined && value !== null) body[key] = value;
  return body;
}

function toResult(summary: CompletionSummary): CompletionResult {
  return {
    completionId: summary.completionId,
    status: summary.status.toUpperCase() as CompletionStatus,
    model: summary.model,
    provider: summary.provider,
    content: summary.content,
    reasoning: summary.reasoning,
    toolCalls: summary.toolCalls.map((call) => ({
      id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
    })),
    finishReason: summary.finishReason ?? null,
    usage: summary.usage ? usageOf(summary.usage) : null,
    truncated: summary.truncated === true,
    error: summary.error
      ? { code: summary.error.code, message: summary.error.message, retryable: summary.error.retryable }
      : null,
    createdAt: new Date(summary.createdAt),
    finishedAt: summary.finishedAt ? new Date(summary.finishedAt) : null,
  };
}
