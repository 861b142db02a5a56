import { Args, Context, ID, Int, Resolver, Subscription } from '@nestjs/graphql';
import { RequestErrorCode, DomainError } from '../../contract/error-code';
import type { BusEnvelope, BusSubscription } from '../../events/bus-subscription';
import { EventBus } from '../../events/event-bus.service';
import type {
  Severity as BusSeverity,
  SystemEvent as BusSystemEvent,
  SystemEventType as BusSystemEventType,
} from '../../system/system-event';
import { SystemEvents } from '../../system/system-events.service';
import { type AgentBusEvent, agentTopic, type WorkflowBusEvent } from '../../contract/topics';
import { WorkflowRuns } from '../../workflow/workflow-runs.service';
import { toAgentEvent, toSystemEvent, toWorkflowEvent } from '../event-mappers';
import { afterOf, SubscriptionGate } from '../subscription-gate';
import { EventFilter, SystemEvent } from '../types/system.types';
import { AgentStreamEvent, WorkflowStreamEvent } from '../types/workflow.types';
import { Requires } from '../../auth/access.decorators';
import { eventVisibility } from '../../auth/event-visibility';
import { type GraphqlContext, viewerOf } from '../graphql-context';

/** Workflow, agent and system event subscriptions, all on the Redis-backed bus. */
@Resolver()
export class EventsResolver {
  constructor(
    private readonly bus: EventBus,
    private readonly system: SystemEvents,
    private readonly gate: SubscriptionGate,
    private readonly runs: WorkflowRuns,
  ) {}

  @Subscription(() => WorkflowStreamEvent, {
    description:
      "A workflow run's events (by run id: history first, to WORKFLOW_COMPLETED or ERROR), or every run " +
      'of a definition (by its id: live from now, or after afterSequence; it does not end).',
    resolve: (envelope: BusEnvelope<WorkflowBusEvent>) => toWorkflowEvent(envelope),
  })
  @Requires('workflow', 'read')
  workflowStream(
    @Args('workflowId', { type: () => ID }) workflowId: string,
    @Context() ctx: GraphqlContext,
    @Args('afterSequence', { type: () => Int, nullable: true }) afterSequence?: number,
  ): Promise<BusSubscription<WorkflowBusEvent>> {
    const after = afterOf(afterSequence);
    const viewer = viewerOf(ctx);
    return this.gate.open(viewer, (overflow) => this.runs.follow(workflowId, { overflow, viewer, ...after }));
  }

  @Subscription(() => AgentStreamEvent, {
    description: "An agent execution's events, history first, to COMPLETED or ERROR.",
    resolve: (envelope: BusEnvelope<AgentBusEvent>) => toAgentEvent(envelope),
  })
  @Requires('agent', 'read')
  agentExecutionStream(
    @Args('executionId', { type: () => ID }) executionId: string,
    @Context() ctx: GraphqlContext,
    @Args('afterSequence', { type: () => Int, nullable: true }) afterSequence?: number,
  ): Promise<BusSubscription<AgentBusEvent>> {
    const after = afterOf(afterSequence);
    const viewer = viewerOf(ctx);
    const topic = agentTopic(executionId);
    return this.gate.open(viewer, async (overflow) => {
      // An execution belongs to its run's owner.
      const agent = await this.bus.summary<{ runId?: string }>(topic);
      if (agent?.runId !== undefined) await this.runs.get(agent.runId, viewer);
      const accept = eventVisibility<AgentBusEvent>(viewer, false);
      const subscription = await this.bus.follow<AgentBusEvent>(topic, {
        overflow,
        ...after,
        ...(accept ? { accept } : {}),
      });
      if (subscription) return subscription;
      throw new DomainError(
        RequestErrorCode.NotFound,
        `No agent execution ${executionId}: it never existed here or its retention ended.`,
        { param: 'executionId' },
      );
    });
  }

  @Subscription(() => SystemEvent, {
    description: 'Operational events from every node, as they happen (no history), filtered.',
    resolve: (envelope: BusEnvelope<BusSystemEvent>) => toSystemEvent(envelope),
  })
  @Requires('system', 'read')
  systemEvents(
    @Context() ctx: GraphqlContext,
    @Args('filter', { type: () => EventFilter, nullable: true }) filter?: EventFilter,
  ): Promise<BusSubscription<BusSystemEvent>> {
    return this.gate.open(viewerOf(ctx), (overflow) =>
      this.system.subscribe(
        {
          ...(filter?.eventTypes
            ? { types: filter.eventTypes.map((t) => t.toLowerCase() as BusSystemEventType) }
            : {}),
          ...(filter?.severities
            ? { severities: filter.severities.map((s) => s.toLowerCase() as BusSeverity) }
            : {}),
          ...(filter?.minSeverity ? { minSeverity: filter.minSeverity.toLowerCase() as BusSeverity } : {}),
          ...(filter?.providers ? { providers: filter.providers } : {}),
        },
        overflow,
      ),
    );
  }
}
