import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLJSON } from '../json.scalar';
import { Usage } from './usage.type';

export enum CompletionEventType {
  CONTENT_CHUNK = 'CONTENT_CHUNK',
  THINKING = 'THINKING',
  TOOL_CALL = 'TOOL_CALL',
  TOOL_RESULT = 'TOOL_RESULT',
  COMPLETED = 'COMPLETED',
  ERROR = 'ERROR',
}
registerEnumType(CompletionEventType, { name: 'CompletionEventType' });

export enum CompletionStatus {
  RUNNING = 'RUNNING',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
}
registerEnumType(CompletionStatus, { name: 'CompletionStatus' });

@ObjectType({
  description:
    'One event of a completion. CONTENT_CHUNK and THINKING carry `content`; TOOL_CALL carries the delta in ' +
    '`metadata` {index, toolCallId, name, argumentsDelta}; COMPLETED carries `usage` and `metadata` ' +
    '{finishReason, model, provider, splices}; ERROR carries `metadata.error` {code, message, retryable}.',
})
export class CompletionStreamEvent {
  @Field(() => CompletionEventType) eventType!: CompletionEventType;
  @Field(() => ID) completionId!: string;
  @Field(() => Int, { description: 'Position in the stream, from 1: resume with `afterSequence`.' })
  sequence!: number;
  @Field(() => String, { nullable: true }) content?: string | null;
  @Field(() => Usage, { nullable: true }) usage?: Usage | null;
  @Field(() => GraphQLJSON, { nullable: true }) metadata?: Record<string, unknown> | null;
  @Field() timestamp!: Date;
}

@InputType({ description: 'A chat message, as in OpenAI chat completions.' })
export class ChatMessageInput {
  @Field({ description: 'system, developer, user, assistant or tool.' }) role!: string;
  @Field(() => GraphQLJSON, {
    nullable: true,
    description: 'A string, or an array of OpenAI content parts.',
  })
  content?: unknown;
  @Field({ nullable: true }) name?: string;
  @Field({ nullable: true, description: 'For role tool: the call it answers.' }) toolCallId?: string;
  @Field(() => GraphQLJSON, { nullable: true, description: 'For role assistant: OpenAI tool_calls.' })
  toolCalls?: unknown;
}

@InputType({ description: 'What POST /v1/chat/completions takes, in GraphQL form; always streamed.' })
export class CompletionInput {
  @Field({ description: 'A model id, alias, or virtual model (see `models`).' }) model!: string;
  @Field(() => [ChatMessageInput]) messages!: ChatMessageInput[];
  @Field(() => [String], {
    nullable: true,
    description: 'Fallback models, tried in order (OpenRouter style).',
  })
  models?: string[];
  @Field(() => Float, { nullable: true }) temperature?: number;
  @Field(() => Float, { nullable: true }) topP?: number;
  @Field(() => Int, { nullable: true }) maxTokens?: number;
  @Field(() => [String], { nullable: true }) stop?: string[];
  @Field(() => Int, { nullable: true }) seed?: number;
  @Field(() => GraphQLJSON, { nullable: true, description: 'OpenAI tools.' }) tools?: unknown;
  @Field(() => GraphQLJSON, { nullable: true, description: 'OpenAI tool_choice.' }) toolChoice?: unknown;
  @Field(() => GraphQLJSON, { nullable: true, description: 'OpenRouter-style reasoning options.' })
  reasoning?: unknown;
  @Field(() => GraphQLJSON, { nullable: true, description: 'OpenRouter-style provider preferences.' })
  provider?: unknown;
}

@ObjectType({ description: 'A started completion: subscribe to `completionStream` with its id.' })
export class CompletionHandle {
  @Field(() => ID) completionId!: string;
  @Field({ description: 'The first model planned (failover may serve another; COMPLETED names it).' })
  model!: string;
  @Field() provider!: string;
  @Field(() => CompletionStatus) status!: CompletionStatus;
  @Field() createdAt!: Date;
}

@ObjectType()
export class ToolCall {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field({ description: 'JSON text, as the model wrote it.' }) arguments!: string;
}

@ObjectType()
export class CompletionError {
  @Field() code!: string;
  @Field() message!: string;
  @Field() retryable!: boolean;
}

@ObjectType({ description: "A completion's state, and its whole answer once it has ended." })
export class CompletionResult {
  @Field(() => ID) completionId!: string;
  @Field(() => CompletionStatus) status!: CompletionStatus;
  @Field({ description: 'The model that served it (after any failover).' }) model!: string;
  @Field() provider!: string;
  @Field(() => String, { nullable: true }) content?: string | null;
  @Field(() => String, { nullable: true }) reasoning?: string | null;
  @Field(() => [ToolCall]) toolCalls!: ToolCall[];
  @Field(() => String, { nullable: true }) finishReason?: string | null;
  @Field(() => Usage, { nullable: true }) usage?: Usage | null;
  @Field({ description: 'The answer outgrew max_memory_per_stream: content holds its beginning.' })
  truncated!: boolean;
  @Field(() => CompletionError, { nullable: true }) error?: CompletionError | null;
  @Field() createdAt!: Date;
  @Field(() => Date, { nullable: true }) finishedAt?: Date | null;
}
