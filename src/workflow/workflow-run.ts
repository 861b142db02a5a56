import type { Usage } from '../contract/stream-event';

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled';

/** Why a run failed, beside the codes of a failing agent's completion (provider_error, ...). */
export enum WorkflowErrorCode {
  /** No transition can fire, none is running, and no final place is marked. */
  Deadlock = 'workflow_deadlock',
  MaxStepsExceeded = 'max_steps_exceeded',
  Timeout = 'workflow_timeout',
  FunctionFailed = 'function_failed',
  WebhookFailed = 'webhook_failed',
  TokenDataTooLarge = 'token_data_too_large',
  Cancelled = 'cancelled',
  /** The node running it shut down. */
  NodeStopping = 'service_unavailable',
  Internal = 'internal_error',
}

export interface RunToken {
  tokenId: string;
  data: Record<string, unknown>;
}

export interface RunAgent {
  executionId: string;
  agent: string;
  transition: string;
  model: string;
  provider?: string;
  completionId?: string;
  status: 'running' | 'completed' | 'failed';
  usage?: Usage;
  startedAt: string;
  finishedAt?: string;
}

export interface RunError {
  code: string;
  message: string;
  retryable: boolean;
  transition?: string;
  agent?: string;
}

/** A run's state, kept in Redis beside its event history and readable from any node. */
export interface WorkflowRunSummary {
  runId: string;
  /** The definition's id. */
  workflowId: string;
  status: RunStatus;
  /** The node executing it. */
  node: string;
  /** The user who started it (absent while auth is off); users with resource scope `own` see only theirs. */
  owner?: string;
  input: Record<string, unknown>;
  /** The data of the tokens in final places (merged), once completed. */
  output?: Record<string, unknown>;
  /** Tokens by place (places without tokens are left out). */
  marking: Record<string, RunToken[]>;
  /** Transitions firing now. */
  active: Array<{ transition: string; startedAt: string; executionId?: string }>;
  agents: RunAgent[];
  /** Transition firings so far. */
  steps: number;
  usage: Usage;
  error?: RunError;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}
