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

export enum WorkflowRunStatus {
  RUNNING = 'RUNNING',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
}
registerEnumType(WorkflowRunStatus, { name: 'WorkflowRunStatus' });

@ObjectType({ description: 'A workflow definition (a Petri net) and what the analysis of its net found.' })
export class Workflow {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field({ description: '`config` (shipped in workflows.directory) or `api`.' }) source!: string;
  @Field() createdAt!: Date;
  @Field(() => GraphQLJSON, { description: 'The definition as written (what createWorkflow takes).' })
  definition!: Record<string, unknown>;
  @Field(() => GraphQLJSON, {
    description: 'Bounded reachability analysis: states, complete, bounded, deadlocks.',
  })
  analysis!: Record<string, unknown>;
}

@ObjectType({ description: "One agent's execution in a run (follow it with agentExecutionStream)." })
export class WorkflowAgentExecution {
  @Field(() => ID) executionId!: string;
  @Field() agent!: string;
  @Field() transition!: string;
  @Field() model!: string;
  @Field(() => String, { nullable: true }) provider?: string | null;
  @Field(() => ID, { nullable: true }) completionId?: string | null;
  @Field({ description: 'running, completed or failed.' }) status!: string;
  @Field(() => Usage, { nullable: true }) usage?: Usage | null;
  @Field() startedAt!: Date;
  @Field(() => Date, { nullable: true }) finishedAt?: Date | null;
}

@ObjectType({ description: 'Why a run failed.' })
export class WorkflowRunError {
  @Field() code!: string;
  @Field() message!: string;
  @Field() retryable!: boolean;
  @Field(() => String, { nullable: true }) transition?: string | null;
  @Field(() => String, { nullable: true }) agent?: string | null;
}

@ObjectType({ description: "A workflow run's state, readable from any node." })
export class WorkflowRun {
  @Field(() => ID) runId!: string;
  @Field(() => ID, { description: "The definition's id." }) workflowId!: string;
  @Field(() => WorkflowRunStatus) status!: WorkflowRunStatus;
  @Field({ description: 'The node executing it.' }) node!: string;
  @Field(() => GraphQLJSON) input!: Record<string, unknown>;
  @Field(() => GraphQLJSON, { nullable: true, description: "The final places' token data, once completed." })
  output?: Record<string, unknown> | null;
  @Field(() => GraphQLJSON, { description: 'Tokens by place: {place: [{tokenId, data}]}.' })
  marking!: Record<string, unknown>;
  @Field(() => [String], { description: 'Transitions firing now.' }) activeTransitions!: string[];
  @Field(() => [WorkflowAgentExecution]) agents!: WorkflowAgentExecution[];
  @Field(() => Int, { description: 'Transition firings so far.' }) steps!: number;
  @Field(() => Usage, { description: "All agents' tokens." }) usage!: Usage;
  @Field(() => WorkflowRunError, { nullable: true }) error?: WorkflowRunError | null;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
  @Field(() => Date, { nullable: true }) finishedAt?: Date | null;
}
