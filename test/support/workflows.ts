import type { WorkflowEventView } from '../../src/workflow/workflow-views';
import type { SseEvent } from '../../src/providers/framing/sse.parser';
import { postJson, readSse } from './sse-client';

/** A workflow event as SSE `data:` carries it. */
export type WorkflowEventData = WorkflowEventView;

export interface RunView {
  runId: string;
  owner?: string;
  workflowId: string;
  status: string;
  output?: Record<string, unknown>;
  marking: Record<string, Array<{ tokenId: string; data: Record<string, unknown> }>>;
  agents: Array<{ executionId: string; agent: string; status: string; completionId?: string }>;
  steps: number;
  error?: { code: string; message: string; transition?: string; agent?: string };
  usage: { totalTokens: number };
}

/** Creates a definition over REST; fails the test unless it was accepted. */
export async function createWorkflow(
  url: string,
  definition: unknown,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const res = await postJson(`${url}/v1/workflows`, definition, { headers });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 201) throw new Error(`create refused (${res.status}): ${JSON.stringify(body)}`);
  return body;
}

/** Starts a run over REST; fails the test unless it started. */
export async function startRun(
  url: string,
  workflowId: string,
  input: unknown,
  headers: Record<string, string> = {},
): Promise<RunView> {
  const res = await postJson(`${url}/v1/workflows/${workflowId}/runs`, { input }, { headers });
  const body = (await res.json()) as RunView;
  if (res.status !== 201) throw new Error(`start refused (${res.status}): ${JSON.stringify(body)}`);
  return body;
}

export async function getRun(
  url: string,
  runId: string,
  headers: Record<string, string> = {},
): Promise<RunView> {
  return (await (await fetch(`${url}/v1/workflow-runs/${runId}`, { headers })).json()) as RunView;
}

/** Reads a run's whole event stream over SSE (history first, to its end). */
export async function runEvents(
  url: string,
  runId: string,
  query = '',
): Promise<{ status: number; events: SseEvent[]; data: WorkflowEventData[] }> {
  const result = await readSse(await fetch(`${url}/v1/workflow-runs/${runId}/events${query}`));
  return {
    status: result.status,
    events: result.events,
    data: result.events.map((e) => JSON.parse(e.data) as WorkflowEventData),
  };
}

/** Each run of `types` collapsed to one (AGENT_PROGRESS x5 -> AGENT_PROGRESS), to compare orders. */
export function collapse(types: string[]): string[] {
  return types.filter((type, i) => type !== types[i - 1]);
}

/** researcher -> writer -> editor -> word count: the shipped example's event order, progress collapsed. */
export const CONTENT_CREATION_ORDER = [
  'TOKEN_CREATED',
  ...['AGENT_STARTED', 'AGENT_PROGRESS', 'AGENT_COMPLETED', 'TOKEN_TRANSITIONED'],
  ...['AGENT_STARTED', 'AGENT_PROGRESS', 'AGENT_COMPLETED', 'TOKEN_TRANSITIONED'],
  ...['AGENT_STARTED', 'AGENT_PROGRESS', 'AGENT_COMPLETED', 'TOKEN_TRANSITIONED'],
  'FUNCTION_EXECUTED',
  'TOKEN_TRANSITIONED',
  'WORKFLOW_COMPLETED',
];

/** A definition with one transition (`step` by default) from `in` (initial) to `out` (final). */
export function oneStep(id: string, action: unknown, transition = 'step'): Record<string, unknown> {
  return {
    id,
    places: [
      { id: 'in', initial: true },
      { id: 'out', final: true },
    ],
    transitions: [
      { id: transition, inputs: ['in'], outputs: ['out'], ...(action === undefined ? {} : { action }) },
    ],
  };
}
