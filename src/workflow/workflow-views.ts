import type { BusEnvelope } from '../events/bus-subscription';
import type { WorkflowBusEvent } from '../contract/topics';
import type { Action, WorkflowDefinition } from './workflow-definition';
import type { StoredWorkflow } from './workflow-store.service';

/** A workflow event as REST (SSE `data:`) shows it; the SSE `event:` is its `type`. */
export interface WorkflowEventView {
  sequence: number;
  type: string;
  workflowId: string;
  runId: string | null;
  tokenId: string | null;
  place: string | null;
  agentId: string | null;
  data: Record<string, unknown>;
  timestamp: string;
}

export function workflowEventView({ seq, at, event }: BusEnvelope<WorkflowBusEvent>): WorkflowEventView {
  return {
    sequence: seq,
    type: event.type.toUpperCase(),
    workflowId: event.workflowId,
    runId: event.runId ?? null,
    tokenId: event.tokenId ?? null,
    place: event.place ?? null,
    agentId: event.agentId ?? null,
    data: event.data ?? {},
    timestamp: new Date(at).toISOString(),
  };
}

/** A workflow event as an SSE frame: named by its type. */
export function workflowSseFrame(envelope: BusEnvelope<WorkflowBusEvent>): {
  event: string;
  data: WorkflowEventView;
} {
  return { event: envelope.event.type.toUpperCase(), data: workflowEventView(envelope) };
}

/**
 * A definition in the form it is written (snake_case, durations in ms), so what GET returns can be posted
 * again; webhook header values are not shown (they may hold credentials).
 */
export function definitionDocument(definition: WorkflowDefinition): Record<string, unknown> {
  const { timeoutMs, maxSteps, transitions, ...rest } = definition;
  return {
    ...rest,
    ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
    ...(maxSteps === undefined ? {} : { max_steps: maxSteps }),
    transitions: transitions.map((t) => ({ ...t, action: actionDocument(t.action) })),
  };
}

function actionDocument(action: Action): Record<string, unknown> {
  if (action.type !== 'webhook') return { ...action };
  const { timeoutMs, headers, ...rest } = action;
  return {
    ...rest,
    timeout: timeoutMs,
    headers: Object.fromEntries(Object.keys(headers).map((name) => [name, '***'])),
  };
}

/** A stored definition as the API returns it. */
export function workflowView(stored: StoredWorkflow): Record<string, unknown> {
  return {
    object: 'workflow',
    id: stored.definition.id,
    name: stored.definition.name,
    source: stored.source,
    created_at: stored.createdAt,
    definition: definitionDocument(stored.definition),
    analysis: stored.analysis,
  };
}
