import { randomUUID } from 'node:crypto';
import { DomainError, StreamErrorCode } from '../contract/error-code';
import type { AppLogger } from '../common/logging/logger';
import type { EventBus, TopicWriter } from '../events/event-bus.service';
import { type AgentBusEvent, agentTopic, type WorkflowBusEvent } from '../contract/topics';
import type { ChatMessage } from '../contract/chat-request';
import type { CompletionService, CompletionStream } from '../streaming/completion.service';
import { validateChatRequest } from '../streaming/dto/validate-chat-request';
import type { StreamError, Usage } from '../contract/stream-event';
import { StepError } from './step-error';
import { renderTemplate } from './template';
import type { AgentAction } from './workflow-definition';
import type { RunAgent, WorkflowRunSummary } from './workflow-run';

/** Live-only topic of every agent's lifecycle and progress, on every node (the WebSocket `agent_status`). */
export const AGENT_STATUS_TOPIC = 'agent-status';

/** Output tokens assumed for the progress figure when an agent sets no max_tokens. */
const ASSUMED_TOKENS = 1024;
/** Characters per token, for the progress estimate. */
const CHARS_PER_TOKEN = 4;

/** A kept agent execution's summary (its topic's). */
export interface AgentSummary {
  executionId: string;
  agent: string;
  workflowId: string;
  runId: string;
  transition: string;
}

export interface AgentRun {
  action: AgentAction;
  transition: string;
  data: Record<string, unknown>;
  summary: WorkflowRunSummary;
  /** PII sanitization as the run's starter's claim says; undefined = the workflow route's setting. */
  sanitize?: boolean;
  signal: AbortSignal;
  /** Publishes a workflow event on the run's topics. */
  emit: (event: Omit<WorkflowBusEvent, 'workflowId' | 'runId'>) => void;
  onStart: (executionId: string) => void;
  onEnd: (usage: Usage) => void;
}

export interface AgentSettings {
  retentionMs: number;
  historyLimit: number;
  progressIntervalMs: number;
}

/**
 * An agent action: renders its prompts over the token data and streams one completion through the
 * CompletionService (so routing, failover, circuits and dead letters apply, under protocol `workflow`). Its
 * events go to the run's topics (AGENT_STARTED, AGENT_PROGRESS batched every `progress_interval`,
 * AGENT_COMPLETED), to its own kept topic `agent:<executionId>` (agentExecutionStream) and to the live
 * `agent-status` topic. Resolves with the answer's text; a failed completion throws a StepError.
 */
export class AgentRunner {
  constructor(
    private readonly completions: CompletionService,
    private readonly bus: EventBus,
    private readonly settings: AgentSettings,
    private readonly log: AppLogger,
  ) {}

  async run(run: AgentRun): Promise<string> {
    const { action, transition, summary } = run;
    const executionId = `exec_${randomUUID().replaceAll('-', '')}`;
    const record: RunAgent = {
      executionId,
      agent: action.agent,
      transition,
      model: action.model,
      status: 'running',
      startedAt: new Date().toISOString(),
    };
    const base = { executionId, agentId: action.agent, workflowId: summary.workflowId, runId: summary.runId };
    let writer: TopicWriter<AgentBusEvent, AgentSummary>;
    try {
      writer = await this.bus.open<AgentBusEvent, AgentSummary>(
        agentTopic(executionId),
        {
          executionId,
          agent: action.agent,
          workflowId: summary.workflowId,
          runId: summary.runId,
          transition,
        },
        { retentionMs: this.settings.retentionMs, limit: this.settings.historyLimit },
      );
    } catch (err) {
      const error = streamErrorOf(err);
      throw new StepError({ ...error, transition, agent: action.agent });
    }
    summary.agents.push(record);
    run.onStart(executionId);
    const publish = (
      agentEvent: AgentBusEvent,
      workflowEvent?: Omit<WorkflowBusEvent, 'workflowId' | 'runId'>,
    ) => {
      const last = agentEvent.type === 'completed' || agentEvent.type === 'error';
      writer.publish(agentEvent, last);
      if (workflowEvent) {
        run.emit(workflowEvent);
        this.bus.publish<WorkflowBusEvent>(AGENT_STATUS_TOPIC, {
          ...workflowEvent,
          workflowId: summary.workflowId,
          runId: summary.runId,
          ...ownerOf(summary),
        });
      }
    };
    publish(
      { ...base, type: 'started', data: { transition, model: action.model } },
      {
        type: 'agent_started',
        agentId: action.agent,
        data: { executionId, transition, model: action.model },
      },
    );

    const progress = new ProgressBatcher(
      this.settings.progressIntervalMs,
      (action.max_tokens ?? ASSUMED_TOKENS) * CHARS_PER_TOKEN,
      (content, figure) =>
        publish(
          { ...base, type: 'content', content, progress: figure },
          {
            type: 'agent_progress',
            agentId: action.agent,
            data: { executionId, transition, content, progress: figure },
          },
        ),
    );
    let text = '';
    let failure: StreamError | undefined;
    let usage: Usage | undefined;
    let finishReason: string | undefined;
    let stream: CompletionStream | undefined;
    try {
      stream = this.completions.start(
        validateChatRequest({
          model: action.model,
          messages: this.messages(action, run.data),
          stream: true,
          ...(action.max_tokens === undefined ? {} : { max_tokens: action.max_tokens }),
          ...(action.temperature === undefined ? {} : { temperature: action.temperature }),
        }),
        {
          requestId: `${summary.runId}/${transition}`,
          protocol: 'workflow',
          ...(run.sanitize === undefined ? {} : { principal: { sanitize: run.sanitize } }),
          ...ownerOf(summary),
          signal: run.signal,
          log: this.log,
        },
      );
      record.completionId = stream.completionId;
      for await (const event of stream) {
        switch (event.type) {
          case 'content_chunk':
            text += event.content;
            progress.add(event.content);
            break;
          case 'thinking':
            writer.publish({ ...base, type: 'thinking', content: event.content });
            break;
          case 'tool_call':
            writer.publish({
              ...base,
              type: 'tool_call',
              data: {
                index: event.index,
                toolCallId: event.toolCallId,
                name: event.name,
                argumentsDelta: event.argumentsDelta,
              },
            });
            break;
          case 'completed':
            usage = event.usage;
            finishReason = event.finishReason;
            break;
          case 'error':
            failure = event.error;
            break;
          case 'tool_result':
            break;
        }
      }
    } catch (err) {
      failure = streamErrorOf(err);
    } finally {
      progress.flush();
      progress.stop();
    }
    record.finishedAt = new Date().toISOString();
    if (stream) record.provider = stream.provider;
    if (usage) run.onEnd(usage);
    if (!failure && usage) {
      record.status = 'completed';
      record.usage = usage;
      const served = { model: stream?.model ?? action.model, provider: stream?.provider };
      publish(
        { ...base, type: 'completed', usage, data: { finish_reason: finishReason, ...served } },
        {
          type: 'agent_completed',
          agentId: action.agent,
          data: {
            executionId,
            transition,
            output: action.output,
            finish_reason: finishReason,
            usage,
            ...served,
            completionId: stream?.completionId,
          },
        },
      );
      return text;
    }
    record.status = 'failed';
    const error = failure ?? {
      code: StreamErrorCode.Internal,
      message: 'The agent ended without a result.',
      retryable: true,
    };
    publish({ ...base, type: 'error', data: { error } });
    this.bus.publish<WorkflowBusEvent>(AGENT_STATUS_TOPIC, {
      type: 'error',
      workflowId: summary.workflowId,
      runId: summary.runId,
      ...ownerOf(summary),
      agentId: action.agent,
      data: { executionId, transition, error },
    });
    throw new StepError({
      code: error.code,
      message: `Agent '${action.agent}' failed: ${error.message}`,
      retryable: error.retryable,
      transition,
      agent: action.agent,
    });
  }

  private messages(action: AgentAction, data: Record<string, unknown>): ChatMessage[] {
    const messages: ChatMessage[] = [];
    if (action.system) messages.push({ role: 'system', content: renderTemplate(action.system, data) });
    messages.push({ role: 'user', content: renderTemplate(action.prompt, data) });
    return messages;
  }
}

/**
 * Batches an agent's content into progress events: at most one per interval (0: one per chunk), the rest
 * held until the interval is up. The figure is the share of the expected output written so far, capped
 * at 0.99 until the agent completes.
 */
class ProgressBatcher {
  private pending = '';
  private written = 0;
  private lastAt = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly intervalMs: number,
    private readonly expectedChars: number,
    private readonly send: (content: string, progress: number) => void,
  ) {}

  add(content: string): void {
    this.pending += content;
    this.written += content.length;
    if (this.timer) return;
    const wait = this.lastAt + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === '') return;
    const content = this.pending;
    this.pending = '';
    this.lastAt = Date.now();
    this.send(content, Math.min(0.99, Math.round((this.written / this.expectedChars) * 1000) / 1000));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function streamErrorOf(err: unknown): StreamError {
  if (err instanceof DomainError) {
    return {
      code: err.code as StreamErrorCode,
      message: err.message,
      retryable: err.retryable,
      ...(err.param === undefined ? {} : { param: err.param }),
    };
  }
  return { code: StreamErrorCode.Internal, message: 'The agent failed unexpectedly.', retryable: true };
}

/** The run's owner on an agent_status event (the stream is shared; own-scoped readers see only theirs). */
function ownerOf(summary: WorkflowRunSummary): { owner?: string } {
  return summary.owner === undefined ? {} : { owner: summary.owner };
}
