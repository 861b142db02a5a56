import { Args, Context, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import type { StoredWorkflow } from '../../workflow/workflow-store.service';
import { WorkflowStore } from '../../workflow/workflow-store.service';
import { WorkflowRuns } from '../../workflow/workflow-runs.service';
import type { WorkflowRunSummary } from '../../workflow/workflow-run';
import { definitionDocument } from '../../workflow/workflow-views';
import { usageOf } from '../event-mappers';
import { type GraphqlContext, requestIdOf, viewerOf } from '../graphql-context';
import { GraphQLJSON } from '../json.scalar';
import { Workflow, WorkflowRun, WorkflowRunStatus } from '../types/workflow.types';
import { Requires } from '../../auth/access.decorators';

/** The GraphQL edge for workflows: definitions, runs (start, read, cancel); their streams are EventsResolver's. */
@Resolver()
export class WorkflowsResolver {
  constructor(
    private readonly store: WorkflowStore,
    private readonly runs: WorkflowRuns,
  ) {}

  @Mutation(() => Workflow, {
    description: 'Validates and keeps a workflow definition (the same document as POST /v1/workflows).',
  })
  @Requires('workflow', 'write')
  async createWorkflow(
    @Args('definition', { type: () => GraphQLJSON }) definition: unknown,
  ): Promise<Workflow> {
    return toWorkflow(await this.store.create(definition));
  }

  @Query(() => Workflow, { description: 'A workflow definition by id.' })
  @Requires('workflow', 'read')
  async workflow(@Args('id', { type: () => ID }) id: string): Promise<Workflow> {
    return toWorkflow(await this.store.get(id));
  }

  @Query(() => [Workflow], { description: 'Every workflow definition.' })
  @Requires('workflow', 'read')
  async workflows(): Promise<Workflow[]> {
    return (await this.store.list()).map(toWorkflow);
  }

  @Mutation(() => WorkflowRun, {
    description: 'Starts a run with input data; follow it with workflowStream(workflowId: runId).',
  })
  @Requires('workflow', 'write')
  async startWorkflow(
    @Args('workflowId', { type: () => ID }) workflowId: string,
    @Args('input', { type: () => GraphQLJSON, nullable: true }) input: unknown,
    @Context() ctx: GraphqlContext,
  ): Promise<WorkflowRun> {
    return toRun(
      await this.runs.start(workflowId, input ?? undefined, {
        requestId: requestIdOf(ctx),
        principal: viewerOf(ctx),
      }),
    );
  }

  @Query(() => WorkflowRun, { description: "A run's state, from any node." })
  @Requires('workflow', 'read')
  async workflowRun(
    @Args('runId', { type: () => ID }) runId: string,
    @Context() ctx: GraphqlContext,
  ): Promise<WorkflowRun> {
    return toRun(await this.runs.get(runId, viewerOf(ctx)));
  }

  @Mutation(() => WorkflowRun, { description: 'Cancels a run (it ends with ERROR, code cancelled).' })
  @Requires('workflow', 'write')
  async cancelWorkflowRun(
    @Args('runId', { type: () => ID }) runId: string,
    @Context() ctx: GraphqlContext,
  ): Promise<WorkflowRun> {
    return toRun((await this.runs.cancel(runId, viewerOf(ctx))).run);
  }
}

function toWorkflow(stored: StoredWorkflow): Workflow {
  const { definition } = stored;
  return {
    id: definition.id,
    name: definition.name,
    description: definition.description ?? null,
    source: stored.source,
    createdAt: new Date(stored.createdAt),
    definition: definitionDocument(definition),
    analysis: { ...stored.analysis },
  };
}

function toRun(run: WorkflowRunSummary): WorkflowRun {
  return {
    runId: run.runId,
    workflowId: run.workflowId,
    status: run.status.toUpperCase() as WorkflowRunStatus,
    node: run.node,
    input: run.input,
    output: run.output ?? null,
    marking: run.marking,
    activeTransitions: run.active.map((a) => a.transition),
    agents: run.agents.map((agent) => ({
      ...agent,
      provider: agent.provider ?? null,
      completionId: agent.completionId ?? null,
      usage: agent.usage ? usageOf(agent.usage) : null,
      startedAt: new Date(agent.startedAt),
      finishedAt: agent.finishedAt ? new Date(agent.finishedAt) : null,
    })),
    steps: run.steps,
    usage: usageOf(run.usage),
    error: run.error
      ? { ...run.error, transition: run.error.transition ?? null, agent: run.error.agent ?? null }
      : null,
    createdAt: new Date(run.createdAt),
    updatedAt: new Date(run.updatedAt),
    finishedAt: run.finishedAt ? new Date(run.finishedAt) : null,
  };
}
