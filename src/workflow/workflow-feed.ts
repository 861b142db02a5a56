import type { BusEnvelope } from '../events/bus-subscription';
import type { Principal } from '../contract/principal';
import type { WorkflowBusEvent } from '../contract/topics';

/** A followed stream of workflow events (a bus subscription): read it, or `return()` it to stop. */
export type WorkflowEvents = AsyncIterableIterator<BusEnvelope<WorkflowBusEvent>> & {
  return(): Promise<IteratorResult<BusEnvelope<WorkflowBusEvent>>>;
};

/** Where workflow events come from (the workflow module's WorkflowRuns, on the Redis bus). */
export interface WorkflowFeed {
  /**
   * A run's events (history first, to its end) or a definition's (every run, live), as `viewer` may see them;
   * throws DomainErrors (not_found, forbidden).
   */
  follow(
    id: string,
    options: { after?: number; overflow: () => Error; viewer?: Principal },
  ): Promise<WorkflowEvents>;
  /** Every agent's lifecycle and progress, on every node, live (the viewer's runs' only, if own-scoped). */
  agentStatus(overflow: () => Error, viewer?: Principal): Promise<WorkflowEvents>;
  /** Every run's events, on every node, live (the viewer's runs' only, if own-scoped). */
  allRuns(overflow: () => Error, viewer?: Principal): Promise<WorkflowEvents>;
}

export const WORKFLOW_FEED = Symbol('WORKFLOW_FEED');
