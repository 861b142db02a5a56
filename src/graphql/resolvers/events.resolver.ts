import { Args, ID, Int, Resolver, Subscription } from '@nestjs/graphql';
import { RequestErrorCode, DomainError } from '../../common/errors/error-code';
import type { BusEnvelope, BusSubscription } from '../../events/bus-subscription';
import { EventBus } from '../../events/event-bus.service';
import {
  type Severity as BusSeverity,
  type SystemEvent as BusSystemEvent,
  type SystemEventType as BusSystemEventType,
  SystemEvents,
} from '../../events/system-events.service';
import { type AgentBusEvent, agentTopic, type WorkflowBusEvent } from '../../events/topics';
import { WorkflowRuns } from '../../workflow/workflow-runs.service';
import { toAgentEvent, toSystemEvent, toWorkflowEvent } from '../event-mappers';
import { afterOf, SubscriptionGate } from '../subscription-gate';
import { EventFilter, SystemEvent } from '../types/system.types';
import { AgentStreamEvent, WorkflowStreamEvent } from '../types/workflow.types';

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
  workflowStream(
    @Args('workflowId', { type: () => ID }) workflowId: string,
    @Args('afterSequence', { type: () => Int, nullable: true }) afterSequence?: number,
  ): Promise<BusSubscription<WorkflowBusEvent>> {
    const after = afterOf(afterSequence);
    return this.gate.open((overflow) => this.runs.follow(workflowId, { overflow, ...after }));
  }

  @Subscription(() => AgentStreamEvent, {
    description: "An agent execution's events, history first, to COMPLETED or ERROR.",
    resolve: (envelope: BusEnvelope<AgentBusEvent>) => toAgentEvent(envelope),
  })
  agentExecutionStream(
    @Args('executionId', { type: () => ID }) executionId: string,
    @Args('afterSequence', { type: () => Int, nullable: true }) afterSequence?: number,
  ): Promise<BusSubscription<AgentBusEvent>> {
    return this.kept<AgentBusEvent>(
      agentTopic(executionId),
      'executionId',
      `agent execution ${executionId}`,
      afterSequence,
    );
  }

  @Subscription(() => SystemEvent, {
    description: 'Operational events from every node, as they happen (no history), filtered.',
    resolve: (envelope: BusEnvelope<BusSystemEvent>) => toSystemEvent(envelope),
  })
  systemEvents(
    @Args('filter', { type: () => EventFilter, nullable: true }) filter?: EventFilter,
  ): Promise<BusSubscription<BusSystemEvent>> {
    return this.gate.open((overflow) =>
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

  private kept<T>(
    topic: string,
    param: string,
    what: string,
    afterSequence: number | undefined,
  ): Promise<BusSubscription<T>> {
    const after = afterOf(afterSequence);
    return this.gate.open(async (overflow) => {
      const subscription = await this.bus.follow<T>(topic, { overflow, ...after });
      if (subscription) return subscription;
      throw new DomainError(
        RequestErrorCode.NotFound,
        `No ${what}: it never existed here or its retention ended.`,
        {
          param,
        },
      );
    });
  }
}
