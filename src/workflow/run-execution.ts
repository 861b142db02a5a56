import type { AppLogger } from '../common/logging/logger';
import type { TopicWriter } from '../events/event-bus.service';
import type { WorkflowBusEvent } from '../contract/topics';
import type { Usage } from '../contract/stream-event';
import type { AgentRunner } from './agent-runner';
import { FunctionError, runBuiltin } from './builtin-functions';
import { StepError } from './step-error';
import { evaluateGuard } from './guard';
import { type WebhookClient, WebhookError } from './webhook-client';
import type { TransitionDefinition, WorkflowDefinition } from './workflow-definition';
import {
  type RunError,
  type RunStatus,
  type RunToken,
  WorkflowErrorCode,
  type WorkflowRunSummary,
} from './workflow-run';

type ActiveStep = WorkflowRunSummary['active'][number];

/** Token combinations tried per transition when its guard refuses the first (inputs holding several tokens). */
const MAX_BINDINGS = 64;

/** The live topic every run's events also go to, from every node (the WebSocket's `workflow` stream). */
export const WORKFLOW_RUNS_TOPIC = 'workflow-runs';

export interface RunWriters {
  run: TopicWriter<WorkflowBusEvent, WorkflowRunSummary>;
  definition: TopicWriter<WorkflowBusEvent, unknown>;
  /** Every run's events, live and unnumbered (WORKFLOW_RUNS_TOPIC); absent, a run is only on its own topics. */
  runs?: { publish(event: WorkflowBusEvent): void };
}

export interface RunSettings {
  maxSteps: number;
  maxParallel: number;
  timeoutMs: number;
  maxTokenData: number;
  /** PII sanitization of its agents' output, as the starting user's claim says (undefined: the route's). */
  sanitize?: boolean;
  /** Set when the run's output is masked: what its events and state carry (token data, function and webhook
   * results, input and output) leaves through this; the run itself works on the real data. */
  mask?: <T>(value: T) => T;
}

/**
 * One run of a workflow on this node: the marking, the firing of enabled transitions (independent ones at
 * once, up to `max_parallel`), and every event, published on the run's topic and its definition's. Ends once,
 * with WORKFLOW_COMPLETED (a final place is marked and nothing is firing) or ERROR (a step failed, deadlock,
 * timeout, too many steps, cancel); `done` resolves when that last event and the state are written.
 */
export class RunExecution {
  readonly done: Promise<void>;
  private readonly controller = new AbortController();
  private readonly marking = new Map<string, RunToken[]>();
  private readonly finals: Set<string>;
  private readonly summary: WorkflowRunSummary;
  private inFlight = 0;
  private tokens = 0;
  private finished = false;
  private timer?: NodeJS.Timeout;
  private summaryQueued = false;
  private resolveDone!: () => void;

  constructor(
    private readonly definition: WorkflowDefinition,
    summary: WorkflowRunSummary,
    private readonly writers: RunWriters,
    private readonly agents: AgentRunner,
    private readonly webhooks: Pick<WebhookClient, 'call'>,
    private readonly settings: RunSettings,
    private readonly log: AppLogger,
  ) {
    this.summary = summary;
    this.finals = new Set(definition.places.filter((p) => p.final).map((p) => p.id));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get runId(): string {
    return this.summary.runId;
  }

  get status(): RunStatus {
    return this.summary.status;
  }

  /** The run's state now (a copy). */
  snapshot(): WorkflowRunSummary {
    return this.settings.mask ? this.settings.mask(this.summary) : structuredClone(this.summary);
  }

  /** Marks the initial places with the input and starts firing. */
  begin(): void {
    this.timer = setTimeout(
      () =>
        this.fail({
          code: WorkflowErrorCode.Timeout,
          message: `The run took longer than ${this.settings.timeoutMs} ms.`,
          retryable: false,
        }),
      this.settings.timeoutMs,
    );
    this.timer.unref();
    for (const place of this.definition.places) {
      if (!place.initial) continue;
      const token = this.put(place.id, this.summary.input);
      this.emit({
        type: 'token_created',
        tokenId: token.tokenId,
        place: place.id,
        data: { token_data: token.data },
      });
    }
    this.touch();
    this.schedule();
  }

  /** Ends the run as cancelled (its agents are aborted). */
  cancel(): void {
    this.fail(
      { code: WorkflowErrorCode.Cancelled, message: 'The run was cancelled.', retryable: false },
      'cancelled',
    );
  }

  /** Ends the run because this node is stopping. */
  stop(): void {
    this.fail({
      code: WorkflowErrorCode.NodeStopping,
      message: 'The node running this workflow shut down before it completed; start it again.',
      retryable: true,
    });
  }

  /**
   * Stops executing without a word: this node lost the run's lease (Redis was away longer than the lease), so
   * another node ends it.
   */
  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.controller.abort();
    this.log.warn({ run_id: this.runId }, 'workflow run abandoned: its lease expired');
    this.resolveDone();
  }

  /** Starts every transition that is enabled now; completes or reports a deadlock when nothing can move. */
  private schedule(): void {
    if (this.finished) return;
    if (this.finalMarked()) {
      // No new firings once a final place is marked; those running finish, then the run completes.
      if (this.inFlight === 0) this.complete();
      return;
    }
    for (const transition of this.definition.transitions) {
      while (this.inFlight < this.settings.maxParallel) {
        const tokens = this.bind(transition);
        if (!tokens) break;
        if (this.summary.steps >= this.settings.maxSteps) {
          this.unbind(transition, tokens); // the run's state keeps the token it could not move
          this.fail({
            code: WorkflowErrorCode.MaxStepsExceeded,
            message: `The run made ${this.summary.steps} transition firings, the most allowed (max_steps).`,
            retryable: false,
          });
          return;
        }
        this.summary.steps++;
        this.inFlight++;
        void this.fire(transition, tokens);
      }
    }
    if (this.inFlight === 0) this.deadlock();
  }

  /**
   * Takes one token from each input place such that the guard holds on their merged data (trying the
   * oldest tokens first), or undefined when the transition is not enabled.
   */
  private bind(transition: TransitionDefinition): RunToken[] | undefined {
    const lists = transition.inputs.map((place) => this.marking.get(place) ?? []);
    if (lists.some((list) => list.length === 0)) return undefined;
    const index = lists.map(() => 0);
    for (let tried = 0; tried < MAX_BINDINGS; tried++) {
      const tokens = lists.map((list, i) => list[index[i]!]!);
      if (!transition.guard || evaluateGuard(transition.guard, merge(tokens))) {
        lists.forEach((list, i) => list.splice(index[i]!, 1));
        transition.inputs.forEach((place, i) => {
          if (lists[i]!.length === 0) this.marking.delete(place);
        });
        return tokens;
      }
      // The next combination (an odometer over the input places' tokens).
      let digit = lists.length - 1;
      while (digit >= 0 && ++index[digit]! >= lists[digit]!.length) index[digit--] = 0;
      if (digit < 0) return undefined;
    }
    return undefined;
  }

  /** Puts tokens taken by `bind` back at the head of their places. */
  private unbind(transition: TransitionDefinition, tokens: RunToken[]): void {
    transition.inputs.forEach((place, i) => {
      const list = this.marking.get(place);
      if (list) list.unshift(tokens[i]!);
      else this.marking.set(place, [tokens[i]!]);
    });
  }

  private async fire(transition: TransitionDefinition, tokens: RunToken[]): Promise<void> {
    const active: ActiveStep = { transition: transition.id, startedAt: new Date().toISOString() };
    this.summary.active.push(active);
    this.touch();
    try {
      const data = await this.act(transition, merge(tokens), active);
      if (this.finished) return;
      if (Buffer.byteLength(JSON.stringify(data)) > this.settings.maxTokenData) {
        throw new StepError({
          code: WorkflowErrorCode.TokenDataTooLarge,
          message: `The token data after '${transition.id}' is over workflows.max_token_data (${this.settings.maxTokenData} bytes).`,
          retryable: false,
          transition: transition.id,
        });
      }
      const from = transition.inputs;
      const consumed = tokens.map((t) => t.tokenId);
      for (const to of transition.outputs) {
        const token = this.put(to, data);
        this.emit({
          type: 'token_transitioned',
          tokenId: token.tokenId,
          place: to,
          data: { transition: transition.id, from, to, consumed, token_data: data },
        });
      }
    } catch (err) {
      if (this.finished) return;
      const error = errorOf(err, transition);
      if (error.code === String(WorkflowErrorCode.Internal))
        this.log.error({ err, transition: transition.id }, 'step failed');
      if (err instanceof WebhookError && transition.action.type === 'webhook') {
        // The detail the run may not show (refused address, closed port, status); never header values.
        this.log.warn(
          {
            transition: transition.id,
            webhook_host: new URL(transition.action.url).host,
            reason: err.detail,
          },
          'webhook call failed',
        );
      }
      this.fail(error);
      return;
    } finally {
      const at = this.summary.active.indexOf(active);
      if (at >= 0) this.summary.active.splice(at, 1);
      this.inFlight--;
    }
    this.touch();
    this.schedule();
  }

  /** Runs a transition's action on the merged data; the data its output tokens carry. */
  private async act(
    transition: TransitionDefinition,
    data: Record<string, unknown>,
    active: ActiveStep,
  ): Promise<Record<string, unknown>> {
    const action = transition.action;
    switch (action.type) {
      case 'none':
        return data;
      case 'agent': {
        const result = await this.agents.run({
          action,
          transition: transition.id,
          data,
          summary: this.summary,
          ...(this.settings.sanitize === undefined ? {} : { sanitize: this.settings.sanitize }),
          signal: this.controller.signal,
          emit: (event) => this.emit(event),
          onStart: (executionId) => {
            active.executionId = executionId;
            this.touch();
          },
          onEnd: (usage) => {
            addUsage(this.summary.usage, usage);
            this.touch();
          },
        });
        return { ...data, [action.output]: result };
      }
      case 'function': {
        const out = runBuiltin(action, data);
        this.emit({
          type: 'function_executed',
          data: { transition: transition.id, function: action.function, token_data: out },
        });
        return out;
      }
      case 'webhook': {
        const result = await this.webhooks.call(
          action,
          { workflowId: this.definition.id, runId: this.runId, transition: transition.id, data },
          this.controller.signal,
        );
        this.emit({
          type: 'function_executed',
          data: {
            transition: transition.id,
            function: 'webhook',
            host: new URL(action.url).host,
            status: result.status,
            duration_ms: result.durationMs,
            token_data: result.data,
          },
        });
        return result.data;
      }
    }
  }

  private complete(): void {
    let output: Record<string, unknown> = {};
    for (const place of this.finals)
      for (const token of this.marking.get(place) ?? []) output = { ...output, ...token.data };
    this.summary.output = output;
    const final = [...this.finals].filter((place) => this.marking.has(place));
    this.end('completed', {
      type: 'workflow_completed',
      place: final[0],
      data: { output, final_places: final, steps: this.summary.steps, usage: this.summary.usage },
    });
  }

  private deadlock(): void {
    const marked = [...this.marking.entries()].map(([place, tokens]) => `${place}: ${tokens.length}`);
    const blocked = this.definition.transitions
      .filter((t) => t.inputs.every((place) => this.marking.has(place)))
      .map((t) => t.id);
    this.fail({
      code: WorkflowErrorCode.Deadlock,
      message:
        `No transition can fire and no final place is marked (marking {${marked.join(', ')}})` +
        (blocked.length > 0 ? `; guards refused: ${blocked.join(', ')}.` : '.'),
      retryable: false,
    });
  }

  private fail(error: RunError, status: RunStatus = 'failed'): void {
    if (this.finished) return;
    this.summary.error = error;
    this.end(status, {
      type: 'error',
      ...(error.agent ? { agentId: error.agent } : {}),
      data: { error },
    });
  }

  /** The one end of a run: state first (so a read after the last event sees it), then the last event. */
  private end(status: RunStatus, event: Omit<WorkflowBusEvent, 'workflowId' | 'runId'>): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.controller.abort();
    const now = new Date().toISOString();
    this.summary.status = status;
    this.summary.marking = Object.fromEntries(this.marking);
    this.summary.active = [];
    this.summary.finishedAt = now;
    this.summary.updatedAt = now;
    this.publishState();
    this.emit(event, true);
    this.log.info(
      {
        run_id: this.runId,
        workflow_id: this.definition.id,
        status,
        steps: this.summary.steps,
        error_code: this.summary.error?.code,
      },
      'workflow run finished',
    );
    void Promise.all([this.writers.run.flushed(), this.writers.definition.flushed()]).then(() =>
      this.resolveDone(),
    );
  }

  /** Publishes an event on the run's topic, its definition's (which never ends) and every run's (live). */
  private emit(event: Omit<WorkflowBusEvent, 'workflowId' | 'runId'>, last = false): void {
    // Nothing after the run's last event (an aborted agent may still flush its batched progress).
    if (this.finished && !last) return;
    const full: WorkflowBusEvent = { ...event, workflowId: this.definition.id, runId: this.runId };
    if (this.summary.owner !== undefined) full.owner = this.summary.owner;
    if (this.settings.mask && full.data) full.data = this.settings.mask(full.data);
    this.writers.run.publish(full, last);
    this.writers.definition.publish(full);
    this.writers.runs?.publish(full);
  }

  private put(place: string, data: Record<string, unknown>): RunToken {
    const token: RunToken = { tokenId: `tk${++this.tokens}`, data };
    const list = this.marking.get(place);
    if (list) list.push(token);
    else this.marking.set(place, [token]);
    return token;
  }

  private finalMarked(): boolean {
    for (const place of this.finals) if (this.marking.has(place)) return true;
    return false;
  }

  /** Writes the state at most once per turn of the event loop. */
  private touch(): void {
    if (this.summaryQueued || this.finished) return;
    this.summaryQueued = true;
    setImmediate(() => {
      this.summaryQueued = false;
      if (this.finished) return;
      this.summary.marking = Object.fromEntries(this.marking);
      this.summary.updatedAt = new Date().toISOString();
      this.publishState();
    });
  }

  private publishState(): void {
    this.writers.run.summarize(this.settings.mask ? this.settings.mask(this.summary) : this.summary);
  }
}

/** The merged data of a firing's input tokens (later inputs win on shared keys). */
function merge(tokens: RunToken[]): Record<string, unknown> {
  if (tokens.length === 1) return tokens[0]!.data;
  // Spread, not Object.assign: an own `__proto__` key in the data stays a plain key.
  return tokens.reduce<Record<string, unknown>>((merged, t) => ({ ...merged, ...t.data }), {});
}

function addUsage(total: Usage, usage: Usage): void {
  total.promptTokens += usage.promptTokens;
  total.completionTokens += usage.completionTokens;
  total.totalTokens += usage.totalTokens;
  total.reasoningTokens = (total.reasoningTokens ?? 0) + (usage.reasoningTokens ?? 0);
}

function errorOf(err: unknown, transition: TransitionDefinition): RunError {
  if (err instanceof StepError) return err.error;
  if (err instanceof FunctionError) {
    return {
      code: WorkflowErrorCode.FunctionFailed,
      message: err.message,
      retryable: false,
      transition: transition.id,
    };
  }
  if (err instanceof WebhookError) {
    return {
      code: WorkflowErrorCode.WebhookFailed,
      message: err.message,
      retryable: true,
      transition: transition.id,
    };
  }
  return {
    code: WorkflowErrorCode.Internal,
    message: `The transition '${transition.id}' failed unexpectedly.`,
    retryable: true,
    transition: transition.id,
  };
}
