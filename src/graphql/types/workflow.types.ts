import { Field, Float, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLJSON } from '../json.scalar';
import { Usage } from './usage.type';

export enum WorkflowEventType {
  TOKEN_CREATED = 'TOKEN_CREATED',
  TOKEN_TRANSITIONED = 'TOKEN_TRANSITIONED',
  AGENT_STARTED = 'AGENT_STARTED',
  AGENT_PROGRESS = 'AGENT_PROGRESS',
  AGENT_COMPLETED = 'AGENT_COMPLETED',
  FUNCTION_EXECUTED = 'FUNCTION_EXECUTED',
  WORKFLOW_COMPLETED = 'WORKFLOW_COMPLETED',
  ERROR = 'ERROR',
}
registerEnumType(WorkflowEventType, { name: 'WorkflowEventType' });

export enum AgentEventType {
  STARTED = 'STARTED',
  PROGRESS = 'PROGRESS',
  CONTENT = 'CONTENT',
  THINKING = 'THINKING',
  TOOL_CALL = 'TOOL_CALL',
  COMPLETED = 'COMPLETED',
  ERROR = 'ERROR',
}
registerEnumType(AgentEventType, { name: 'AgentEventType' });

@ObjectType({ description: 'One step of a workflow run; ERROR carries `data.error`.' })
export class WorkflowStreamEvent {
  @Field(() => WorkflowEventType) eventType!: WorkflowEventType;
  @Field(() => ID) workflowId!: string;
  @Field(() => ID, { nullable: true }) runId?: string | null;
  @Field(() => Int) sequence!: number;
  @Field(() => ID, { nullable: true }) tokenId?: string | null;
  @Field(() => String, { nullable: true }) place?: string | null;
  @Field(() => String, { nullable: true }) agentId?: string | null;
  @Field(() => GraphQLJSON, { nullable: true }) data?: Record<string, unknown> | null;
  @Field() timestamp!: Date;
}

@ObjectType({
  description:
    "One step of an agent's execution: lifecycle (STARTED, COMPLETED, ERROR with `data.error`), PROGRESS " +
    '(0..1), streamed CONTENT and THINKING, and TOOL_CALL deltas in `data`.',
})
export class AgentStreamEvent {
  @Field(() => AgentEventType) eventType!: AgentEventType;
  @Field(() => ID) executionId!: string;
  @Field(() => ID) agentId!: string;
  @Field(() => ID, { nullable: true }) workflowId?: string | null;
  @Field(() => ID, { nullable: true }) runId?: string | null;
  @Field(() => Int) sequence!: number;
  @Field(() => String, { nullable: true }) content?: string | null;
  @Field(() => Float, { nullable: true }) progress?: number | null;
  @Field(() => Usage, { nullable: true }) usage?: Usage | null;
  @Field(() => GraphQLJSON, { nullable: true }) data?: Record<string, unknown> | null;
  @Field() timestamp!: Date;
}
