import { randomUUID } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompletionError, RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import { isObject } from '../common/is-object';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { MetricsService } from '../analytics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { RunLeases } from './run-leases';
import { AppConfig } from '../config/app-config';
import type { BusSubscription } from '../events/bus-subscription';
import { EventBus, type TopicWriter } from '../events/event-bus.service';
import { SystemEvents } from '../system/system-events.service';
import { type AgentBusEvent, agentTopic, type WorkflowBusEvent, workflowTopic } from '../contract/topics';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { CompletionService } from '../streaming/completion.service';
import type { WorkflowFeed } from './workflow-feed';
import { AGENT_STATUS_TOPIC, AgentRunner } from './agent-runner';
import { RunExecution, type RunWriters, WORKFLOW_RUNS_TOPIC } from './run-execution';
import { AddressAllowList } from '../common/net/address-allow-list';
import { WebhookClient } from './webhook-client';
import { WorkflowError } from './workflow.error';
import { withDeadline } from '../common/with-deadline';
import { AuthError } from '../auth/auth.error';
import { eventVisibility } from '../auth/event-visibility';
import { owns, type Principal } from '../contract/principal';
import type { WorkflowRunSummary } from './workflow-run';
import { WorkflowStore, workflowNotFound } from './workflow-store.service';
import { SanitizationService } from '../sanitization/sanitization.service';

/** Run ids carry this prefix (definition ids may not), so one id names either. */
export const RUN_ID_PREFIX = 'run_';

const CONTROL_TOPIC = 'workflow-control';
/** How long a cancel waits for a run on another node to end before answering with its state. */
const REMOTE_CANCEL_WAIT_MS = 3_000;
/** Events kept per definition's stream (every run of it): a short window, for resuming. */
const DEFINITION_HISTORY = 1_000;
/** Time given to runs ended at shutdown to write their last event. */
const FINAL_WRITE_GRACE_MS = 2_000;

interface CancelMessage {
  runId: string;
}

export interface StartContext {
  requestId: string;
  log?: AppLogger;
  /** Who starts it: the run's owner, and whose sanitization claim its agents follow. */
  principal?: Principal;
}

export interface FollowOptions {
  /** Resume after this sequence number. */
  after?: number;
  overflow: () => Error;
  /** Who follows: a run must be theirs to see (resource scope), and only their allowed event types come. */
  viewer?: Principal;
}

/**
 * Workflow runs: starts them (executed on this node, see RunExecution), reads their state from Redis
 * wherever they run, cancels them from any node, and follows their events (a run's: history first, to its
 * end; a definition's: every run of it, live, never ending).
 */
@Injectable()
export class WorkflowRuns
  implements WorkflowFeed, OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly running = new Map<string, RunExecution>();
  /** Starts between their checks and their run's registration (counted against max_running). */
  private starting = 0;
  private readonly agents: AgentRunner;
  private readonly webhooks: WebhookClient;
  private readonly log: AppLogger;
  private stopListening?: () => void;
  private readonly leases: RunLeases;
  private sweeper?: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    private readonly config: AppConfig,
    private readonly store: WorkflowStore,
    private readonly bus: EventBus,
    private readonly lifecycle: LifecycleService,
    private readonly system: SystemEvents,
    private readonly metrics: MetricsService,
    redis: RedisService,
    completions: CompletionService,
    private readonly sanitization: SanitizationService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'WorkflowRuns' });
    this.leases = new RunLeases(redis.client, config.redis.key_prefix, config.workflows.lease_ttl);
    const { run_retention, history_limit, progress_interval } = config.workflows;
    this.agents = new AgentRunner(
      completions,
      bus,
      { retentionMs: run_retention, historyLimit: history_limit, progressIntervalMs: progress_interval },
      this.log,
    );
    this.webhooks = new WebhookClient({
      allow: new AddressAllowList(config.workflows.webhooks.allow),
      maxResponseBytes: config.workflows.webhooks.max_response,
    });
  }

  onModuleInit(): void {
    this.stopListening = this.bus.listen<CancelMessage>(CONTROL_TOPIC, (event) => {
      if (typeof event.runId === 'string') this.running.get(event.runId)?.cancel();
    });
    this.sweeper = setInterval(() => void this.sweep(), Math.floor(this.config.workflows.lease_ttl / 3));
    this.sweeper.unref();
  }

  /** Refreshes this node's leases, and ends runs whose node stopped without ending them. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const runId of await this.leases.refresh([...this.running.keys()]))
        this.running.get(runId)?.abandon();
      for (const runId of await this.leases.orphans(this.running)) await this.reap(runId);
    } catch (err) {
      this.log.debug({ err }, 'lease sweep skipped: Redis unavailable');
    } finally {
      this.sweeping = false;
    }
  }

  /** Ends a run whose node is gone: a failed state and a retryable ERROR as its last event (its agents' too). */
  private async reap(runId: string): Promise<void> {
    const topic = workflowTopic(runId);
    const summary = await this.bus.summary<WorkflowRunSummary>(topic);
    if (summary?.status === 'running') {
      const error = {
        code: StreamErrorCode.ServiceUnavailable,
        message: `The node running this workflow (${summary.node}) stopped without ending it; start it again.`,
        retryable: true,
      };
      const now = new Date().toISOString();
      const { run_retention: retentionMs, history_limit: limit } = this.config.workflows;
      const failed: WorkflowRunSummary = {
        ...summary,
        status: 'failed',
        error,
        active: [],
        updatedAt: now,
        finishedAt: now,
      };
      const event: WorkflowBusEvent = {
        type: 'error',
        workflowId: summary.workflowId,
        runId,
        ...(summary.owner === undefined ? {} : { owner: summary.owner }),
        data: { error },
      };
      const writers: Array<{ flushed(): Promise<void> }> = [];
      const runWriter = await this.openRunTopic(runId, failed);
      const definitionWriter = await this.openDefinitionTopic(summary.workflowId);
      runWriter.publish(event, true);
      definitionWriter.publish(event);
      this.bus.publish(WORKFLOW_RUNS_TOPIC, event);
      writers.push(runWriter, definitionWriter);
      for (const agent of summary.agents.filter((a) => a.status === 'running')) {
        const agentWriter = await this.bus.open<AgentBusEvent, unknown>(
          agentTopic(agent.executionId),
          {
            executionId: agent.executionId,
            agent: agent.agent,
            workflowId: summary.workflowId,
            runId,
            transition: agent.transition,
          },
          { retentionMs, limit },
        );
        agentWriter.publish(
          {
            type: 'error',
            executionId: agent.executionId,
            agentId: agent.agent,
            runId,
            workflowId: summary.workflowId,
            data: { error },
          },
          true,
        );
        writers.push(agentWriter);
      }
      await Promise.all(writers.map((w) => w.flushed()));
      this.metrics.workflowRuns.labels('failed').inc();
      this.log.warn({ run_id: runId, node: summary.node }, 'workflow run of a stopped node ended');
    }
    this.leases.release(runId);
  }

  /**
   * Runs get as long as the streams' drain (from when it began) to finish; those still running are then
   * ended with a retryable ERROR, written before Redis closes.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.lifecycle.beginDrain();
    const { readiness_grace, drain_timeout } = this.config.server.shutdown;
    const until = this.lifecycle.drainStartedAt + readiness_grace + drain_timeout;
    const all = () => Promise.all([...this.running.values()].map((run) => run.done));
    if (this.running.size > 0) await Promise.race([all(), sleep(Math.max(0, until - Date.now()))]);
    for (const run of this.running.values()) run.stop();
    if (this.running.size > 0) await Promise.race([all(), sleep(FINAL_WRITE_GRACE_MS)]);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopListening?.();
    clearInterval(this.sweeper);
    await this.webhooks.close();
  }

  /** Starts a run of a definition with input data; returns its state once its topic exists. */
  async start(workflowId: string, input: unknown, ctx: StartContext): Promise<WorkflowRunSummary> {
    if (input !== undefined && !isObject(input)) {
      throw new WorkflowError(RequestErrorCode.InvalidRequest, "'input' must be a JSON object.", {
        param: 'input',
      });
    }
    const data = input ?? {};
    const { workflows } = this.config;
    if (serializedSize(data) > workflows.max_token_data) {
      throw new WorkflowError(
        RequestErrorCode.InvalidRequest,
        `'input' is over workflows.max_token_data (${workflows.max_token_data} bytes).`,
        { param: 'input' },
      );
    }
    this.lifecycle.assertAcceptingWork();
    if (this.running.size + this.starting >= workflows.max_running) {
      throw new CompletionError(
        StreamErrorCode.ServiceUnavailable,
        `This node runs ${workflows.max_running} workflows already (workflows.max_running); retry shortly.`,
        { retryable: true, retryAfterMs: 1_000 },
      );
    }
    this.starting++;
    try {
      return await this.launch(workflowId, data, ctx);
    } finally {
      this.starting--;
    }
  }

  private async launch(
    workflowId: string,
    data: Record<string, unknown>,
    ctx: StartContext,
  ): Promise<WorkflowRunSummary> {
    const { workflows } = this.config;
    const { definition } = await this.store.get(workflowId);
    const runId = `${RUN_ID_PREFIX}${randomUUID().replaceAll('-', '')}`;
    const now = new Date().toISOString();
    const summary: WorkflowRunSummary = {
      runId,
      workflowId: definition.id,
      status: 'running',
      node: this.system.node,
      ...(ctx.principal && !ctx.principal.anonymous ? { owner: ctx.principal.userId } : {}),
      input: data,
      marking: {},
      active: [],
      agents: [],
      steps: 0,
      usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0, reasoningTokens: 0 },
      createdAt: now,
      updatedAt: now,
    };
    // The definition's topic first: once the run's exists (its state says running), the run executes.
    const definitionWriter = await this.openDefinitionTopic(definition.id);
    await this.leases.take(runId, this.system.node);
    const mask = this.sanitization.applies('workflow', ctx.principal?.sanitize)
      ? <T>(value: T): T => this.sanitization.sanitizer.scrub(value)
      : undefined;
    const writers: RunWriters = {
      run: await this.openRunTopic(runId, mask ? mask(summary) : summary),
      definition: definitionWriter,
      runs: { publish: (event) => this.bus.publish(WORKFLOW_RUNS_TOPIC, event) },
    };
    const execution = new RunExecution(
      definition,
      summary,
      writers,
      this.agents,
      this.webhooks,
      {
        maxSteps: definition.maxSteps ?? workflows.max_steps,
        maxParallel: workflows.max_parallel,
        timeoutMs: definition.timeoutMs ?? workflows.run_timeout,
        maxTokenData: workflows.max_token_data,
        ...(ctx.principal?.sanitize === undefined ? {} : { sanitize: ctx.principal.sanitize }),
        ...(mask ? { mask } : {}),
      },
      (ctx.log ?? this.log).child({ run_id: runId, request_id: ctx.requestId }),
    );
    this.running.set(runId, execution);
    this.metrics.workflowRunsActive.inc();
    void execution.done.then(() => {
      this.running.delete(runId);
      this.leases.release(runId);
      this.metrics.workflowRunsActive.dec();
      this.metrics.workflowRuns.labels(execution.status).inc();
    });
    execution.begin();
    return execution.snapshot();
  }

  /** A run's topic: its state and its kept events. */
  private openRunTopic(
    runId: string,
    summary: WorkflowRunSummary,
  ): Promise<TopicWriter<WorkflowBusEvent, WorkflowRunSummary>> {
    const { run_retention: retentionMs, history_limit: limit } = this.config.workflows;
    return this.bus.open(workflowTopic(runId), summary, { retentionMs, limit });
  }

  /** A definition's topic: every run's events, a short window kept. */
  private openDefinitionTopic(workflowId: string): Promise<TopicWriter<WorkflowBusEvent, unknown>> {
    const { run_retention: retentionMs, history_limit } = this.config.workflows;
    const limit = Math.min(DEFINITION_HISTORY, history_limit);
    return this.bus.open(workflowTopic(workflowId), { workflowId }, { retentionMs, limit });
  }

  /**
   * A run's state, from any node; not_found when unknown or past its retention, forbidden when `viewer` may
   * not see it (another user's run, for a viewer with resource scope `own`).
   */
  async get(runId: string, viewer?: Principal): Promise<WorkflowRunSummary> {
    const summary = runId.startsWith(RUN_ID_PREFIX)
      ? await this.bus.summary<WorkflowRunSummary>(workflowTopic(runId))
      : undefined;
    if (!summary) throw runNotFound(runId);
    if (viewer && !owns(viewer, summary.owner))
      throw AuthError.forbidden('This workflow run belongs to another user.');
    return summary;
  }

  /** Whether a run has ended and its events up to `after` include the last (nothing more to follow). */
  async endedBy(runId: string, after: number, viewer?: Principal): Promise<boolean> {
    const run = await this.get(runId, viewer);
    return run.status !== 'running' && after >= (await this.bus.head(workflowTopic(runId)));
  }

  /** Cancels a run wherever it runs; returns its state (unchanged when it had already ended). */
  async cancel(runId: string, viewer?: Principal): Promise<{ cancelled: boolean; run: WorkflowRunSummary }> {
    const run = await this.get(runId, viewer);
    if (run.status !== 'running') return { cancelled: false, run };
    const local = this.running.get(runId);
    if (local) {
      local.cancel();
      await local.done;
      const after = local.snapshot();
      return { cancelled: after.status === 'cancelled', run: after };
    }
    // Another node runs it: ask it, and answer with the state once the run has ended (or as it is then).
    const ended = await this.follow(runId, {
      after: await this.bus.head(workflowTopic(runId)),
      overflow: backlog,
    });
    this.bus.publish<CancelMessage>(CONTROL_TOPIC, { runId });
    try {
      await withDeadline(drain(ended), REMOTE_CANCEL_WAIT_MS, 'remote cancel');
    } catch {
      void ended.return(); // not ended yet (its node may be gone); the state below says so
    }
    const after = await this.get(runId);
    return { cancelled: after.status === 'cancelled', run: after };
  }

  /**
   * Follows a workflow's events. A run id: its kept history (after `after`), then live events, to its end. A
   * definition id: every run of it from now on (or after `after`, within the kept history), never ending.
   * An `after` past the stream's newest event is refused.
   */
  async follow(id: string, options: FollowOptions): Promise<BusSubscription<WorkflowBusEvent>> {
    const topic = workflowTopic(id);
    const viewer = options.viewer;
    if (id.startsWith(RUN_ID_PREFIX)) await this.get(id, viewer);
    else if (!(await this.store.find(id))) throw workflowNotFound(id);
    const head = await this.bus.head(topic);
    if (options.after !== undefined && options.after > head) {
      throw new WorkflowError(
        RequestErrorCode.InvalidRequest,
        `afterSequence ${options.after} is past the newest event of '${id}' (${head}).`,
        { param: 'afterSequence' },
      );
    }
    const defaultAfter = id.startsWith(RUN_ID_PREFIX) ? 0 : head;
    // A definition's stream carries every user's runs: an own-scoped viewer gets only theirs.
    const accept = viewer ? eventVisibility<WorkflowBusEvent>(viewer, true) : undefined;
    return this.bus.subscribe<WorkflowBusEvent>(topic, {
      replay: true,
      after: options.after ?? defaultAfter,
      overflow: options.overflow,
      maxQueued: this.config.workflows.history_limit + 1_000,
      ...(accept ? { accept } : {}),
    });
  }

  /**
   * Every agent's lifecycle and progress, from every node, live (the WebSocket's agent_status stream); an
   * own-scoped viewer gets only the agents of their runs.
   */
  agentStatus(overflow: () => Error, viewer?: Principal): Promise<BusSubscription<WorkflowBusEvent>> {
    const accept = viewer ? eventVisibility<WorkflowBusEvent>(viewer, true) : undefined;
    return this.bus.subscribe<WorkflowBusEvent>(AGENT_STATUS_TOPIC, {
      replay: false,
      overflow,
      ...(accept ? { accept } : {}),
    });
  }

  /**
   * Every run's events, from every node, live (the WebSocket's `workflow` stream); an own-scoped viewer gets
   * only their runs'.
   */
  allRuns(overflow: () => Error, viewer?: Principal): Promise<BusSubscription<WorkflowBusEvent>> {
    const accept = viewer ? eventVisibility<WorkflowBusEvent>(viewer, true) : undefined;
    return this.bus.subscribe<WorkflowBusEvent>(WORKFLOW_RUNS_TOPIC, {
      replay: false,
      overflow,
      ...(accept ? { accept } : {}),
    });
  }

  /** Runs executing on this node. */
  get size(): number {
    return this.running.size;
  }
}

export function runNotFound(runId: string): WorkflowError {
  return new WorkflowError(
    RequestErrorCode.NotFound,
    `No workflow run '${runId.slice(0, 128)}': it never existed or its retention ended.`,
    { param: 'runId' },
  );
}

function backlog(): Error {
  return new Error('backlog');
}

async function drain(events: AsyncIterable<unknown>): Promise<void> {
  for await (const _event of events) {
    // read to the end
  }
}

/** The JSON size of input data, or Infinity when it cannot be serialized (too deep). */
function serializedSize(data: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(data));
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
