import type { Usage } from './stream-event';

/**
 * Topic names and event shapes on the bus. Producers publish these; each edge maps them to its wire format.
 * A completion's topic carries StreamEvents (its terminal event also names the model and provider that served).
 */
export const completionTopic = (completionId: string): string => `completion:${completionId}`;
export const workflowTopic = (workflowId: string): string => `workflow:${workflowId}`;
export const agentTopic = (executionId: string): string => `agent:${executionId}`;

export const WORKFLOW_EVENT_TYPES = [
  'token_created',
  'token_transitioned',
  'agent_started',
  'agent_progress',
  'agent_completed',
  'function_executed',
  'workflow_completed',
  'error',
] as const;
export type WorkflowEventType = (typeof WORKFLOW_EVENT_TYPES)[number];

/** One step of a workflow run, published on `workflow:<run or definition id>`. */
export interface WorkflowBusEvent {
  type: WorkflowEventType;
  workflowId: string;
  runId?: string;
  tokenId?: string;
  place?: string;
  agentId?: string;
  data?: Record<string, unknown>;
  /** The user who started the run (not sent to clients: it filters shared streams by resource scope). */
  owner?: string;
}

export const AGENT_EVENT_TYPES = [
  'started',
  'progress',
  'content',
  'thinking',
  'tool_call',
  'completed',
  'error',
] as const;
export type AgentEventType = (typeof AGENT_EVENT_TYPES)[number];

/** One step of an agent execution (an agent's LLM call inside a workflow), on `agent:<execution id>`. */
export interface AgentBusEvent {
  type: AgentEventType;
  executionId: string;
  agentId: string;
  workflowId?: string;
  runId?: string;
  content?: string;
  /** 0..1 */
  progress?: number;
  usage?: Usage;
  data?: Record<string, unknown>;
}
