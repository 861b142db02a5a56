/**
 * A workflow definition: a Petri net whose tokens carry JSON data. Places hold tokens; a transition is
 * enabled when each of its input places holds a token (and its guard, if any, holds on their merged data); it
 * consumes one token per input place, runs its action on the merged data, and puts a token carrying the
 * result in each output place. A run starts with one token (the run's input) in every initial place and
 * completes when a final place is marked.
 *
 * This is the normalised form (defaults filled in) that the parser returns and the store keeps.
 */
export interface WorkflowDefinition {
  /** 1..64 of [A-Za-z0-9_.-], not starting with `run_` (run ids do). */
  id: string;
  name: string;
  description?: string;
  places: PlaceDefinition[];
  transitions: TransitionDefinition[];
  /** The longest a run may take, ms (whole run); the default comes from config. */
  timeoutMs?: number;
  /** The most transition firings one run may make (stops endless cycles); the default comes from config. */
  maxSteps?: number;
}

export interface PlaceDefinition {
  id: string;
  description?: string;
  initial: boolean;
  final: boolean;
}

export interface TransitionDefinition {
  id: string;
  description?: string;
  /** Input places (one arc each, weight 1); at least one, no repeats. */
  inputs: string[];
  /** Output places; at least one, no repeats. */
  outputs: string[];
  guard?: Guard;
  action: Action;
}

export type Action = NoAction | AgentAction | FunctionAction | WebhookAction;

export interface NoAction {
  type: 'none';
}

/** An LLM call through the CompletionService (routing, failover, circuits, dead letters all apply). */
export interface AgentAction {
  type: 'agent';
  /** The agent's name in events (default: the transition id). */
  agent: string;
  /** A catalogue model id, alias or virtual model. */
  model: string;
  /** System prompt template. */
  system?: string;
  /** User prompt template over the token data: `{{field}}`, `{{a.b.c}}`. */
  prompt: string;
  /** The data key the answer is written to (default: the agent name). */
  output: string;
  max_tokens?: number;
  temperature?: number;
}

export const BUILTIN_FUNCTIONS = [
  'set',
  'template',
  'pick',
  'omit',
  'rename',
  'join',
  'word_count',
  'parse_json',
] as const;
export type BuiltinFunctionName = (typeof BUILTIN_FUNCTIONS)[number];

/** A built-in data transform (see builtin-functions.ts for each one's args). */
export interface FunctionAction {
  type: 'function';
  function: BuiltinFunctionName;
  args: Record<string, unknown>;
}

/**
 * An HTTP call: the token data goes out as JSON (`{workflowId, runId, transition, data}`). The answer is read
 * only through `response.fields`; without them the run records the status and duration, and the data goes on
 * unchanged. Non-2xx, an unreachable or refused target, or a timeout fails the run (one generic message).
 */
export interface WebhookAction {
  type: 'webhook';
  url: string;
  method: 'POST' | 'PUT';
  /** Sent as they are; never shown back (GET shows `***`), never logged, masked in mapped answers. */
  headers: Record<string, string>;
  timeoutMs: number;
  response?: WebhookResponseMapping;
}

/** Which parts of a webhook's JSON answer go into the token data. */
export interface WebhookResponseMapping {
  /** Data key to a dotted path in the answer (`summary: 'result.summary'`); absent paths set nothing. */
  fields: Record<string, string>;
}

export const GUARD_OPS = [
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'exists',
  'missing',
  'truthy',
  'falsy',
  'contains',
  'matches',
  'in',
] as const;
export type GuardOp = (typeof GUARD_OPS)[number];

/** A condition on token data: a comparison on a dotted field path, or all/any/not of guards. */
export type Guard =
  { all: Guard[] } | { any: Guard[] } | { not: Guard } | { field: string; op: GuardOp; value?: unknown };

/** One thing wrong with a definition: where (a JSON path such as `transitions[1].inputs[0]`) and what. */
export interface DefinitionProblem {
  path: string;
  message: string;
}

/** What the bounded reachability analysis found (on the net alone, guards taken as possibly true or false). */
export interface NetAnalysis {
  /** Markings explored. */
  states: number;
  /** Every reachable marking was explored (false: the net was too large or unbounded for the limits). */
  complete: boolean;
  /** No place ever held more than the token bound in the explored markings. */
  bounded: boolean;
  /** Reachable markings where nothing can fire and no final place is marked (at most a few, with the path). */
  deadlocks: Array<{ marking: Record<string, number>; path: string[] }>;
}
