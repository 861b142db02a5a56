import { Args, Context, ID, Int, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { PROVIDER_KEY_HEADER } from '../../contract/provider-keys';
import { ownerOf } from '../../contract/principal';
import { CompletionService } from '../../streaming/completion.service';
import { validateChatRequest } from '../../streaming/dto/validate-chat-request';
import type { CompletionSummary } from '../../streaming/hub/completion-state';
import { StreamHub } from '../../streaming/hub/stream-hub.service';
import { type CompletionEnvelope, CompletionSubscription } from '../completion-subscription';
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

/**
 * The GraphQL edge for completions: start one, follow its events, read its result, cancel it. Every completion
 * lives in the stream hub, so `completionStream`, `completion` and `cancelCompletion` take any completion's id
 * (started over SSE, WebSocket, GraphQL or by a workflow agent) on any node.
 */
@Resolver(() => CompletionStreamEvent)
export class CompletionsResolver {
  constructor(
    private readonly completions: CompletionService,
    private readonly hub: StreamHub,
    private readonly gate: SubscriptionGate,
  ) {}

  @Mutation(() => CompletionHandle, {
    description: 'Starts a completion; its events flow to completionStream (kept for late subscribers).',
  })
  @Requires('completion', 'write')
  createCompletion(@Args('input') input: CompletionInput, @Context() ctx: GraphqlContext): CompletionHandle {
    const request = validateChatRequest(toRequestBody(input));
    const viewer = viewerOf(ctx);
    // Detached: it runs to its end whoever follows. The hub keeps every event type (each follower gets those
    // its own principal allows), so only the starter's sanitization claim is passed.
    const summary = this.completions.launch(request, {
      requestId: requestIdOf(ctx),
      protocol: 'graphql',
      principal: { sanitize: viewer.sanitize },
      providerKey: headerOf(ctx, PROVIDER_KEY_HEADER),
      owner: ownerOf(viewer),
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
    return this.hub.cancel(completionId, viewerOf(ctx));
  }

  @Query(() => CompletionResult, { description: "A completion's state, and its whole answer once ended." })
  @Requires('completion', 'read')
  async completion(
    @Args('completionId', { type: () => ID }) completionId: string,
    @Context() ctx: GraphqlContext,
  ): Promise<CompletionResult> {
    return toResult(await this.hub.summary(completionId, viewerOf(ctx)));
  }

  @Subscription(() => CompletionStreamEvent, {
    description:
      "A completion's events, from the first (kept ones are replayed) to COMPLETED or ERROR; with " +
      'afterSequence, only those after it (resuming after a reconnect).',
    resolve: (envelope: CompletionEnvelope) => toCompletionEvent(envelope),
  })
  @Requires('completion', 'read')
  completionStream(
    @Args('completionId', { type: () => ID }) completionId: string,
    @Context() ctx: GraphqlContext,
    @Args('afterSequence', { type: () => Int, nullable: true }) afterSequence?: number,
  ): Promise<CompletionSubscription> {
    const after = afterOf(afterSequence);
    const viewer = viewerOf(ctx);
    // No overflow: a follower that reads slowly only reads behind (from memory here, a bounded queue elsewhere).
    return this.gate.open(
      viewer,
      async () => new CompletionSubscription(await this.hub.follow(completionId, { viewer, ...after })),
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

const STATUS: Record<CompletionSummary['status'], CompletionStatus> = {
  running: CompletionStatus.RUNNING,
  completed: CompletionStatus.COMPLETED,
  failed: CompletionStatus.FAILED,
  cancelled: CompletionStatus.CANCELLED,
};

/**
 * A hub summary as the GraphQL result. The hub already reads a running completion whose owner's lease lapsed
 * as failed with stream_owner_lost, so the status maps one to one.
 */
function toResult(summary: CompletionSummary): CompletionResult {
  return {
    completionId: summary.completionId,
    status: STATUS[summary.status],
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
