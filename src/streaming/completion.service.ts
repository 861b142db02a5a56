import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { MetricsService, type Protocol, type StreamOutcome } from '../analytics/metrics.service';
import { CompletionError, StreamErrorCode } from '../contract/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import type { Principal } from '../contract/principal';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { DeadLetterService } from '../dead-letter/dead-letter.service';
import { ProviderRegistry } from '../providers/provider-registry.service';
import {
  FailoverExecutor,
  type FailoverPlan,
  type FailoverProgress,
  startProgress,
} from '../routing/failover-executor';
import { deadLetters } from '../routing/recovery';
import { RoutingService } from '../routing/routing.service';
import { ActiveStreams } from './active-streams.service';
import { SanitizationService } from '../sanitization/sanitization.service';
import type { CompletionSummary } from './hub/completion-state';
import type { CompletionFollow } from './hub/followers';
import { type DetachMode, type HubSource, StreamHub } from './hub/stream-hub.service';
import type { ChatCompletionRequest, ChatToolCall } from '../contract/chat-request';
import { coalesceEvents } from './event-coalescer';
import { ResultBuilder } from './result-builder';
import type {
  ErrorEvent,
  FinishReason,
  StreamError,
  StreamEvent,
  TerminalEvent,
  Usage,
} from '../contract/stream-event';

/** Who asks for a completion, and how: what every edge passes (and workflows and dead-letter replays). */
export interface CompletionCaller {
  /** Correlates logs; the edge's request id. */
  requestId: string;
  protocol: Protocol;
  /**
   * Who is asking: its PII sanitization claim overrides the route's setting (`protocol`), and a stream
   * carries only the event types it may receive (terminal events always). A workflow passes its run's
   * claim; absent for the service's own work (a dead-letter replay).
   */
  principal?: Pick<Principal, 'sanitize' | 'eventTypes'>;
  /**
   * The caller's own provider key(s) as sent (a bare key, or `provider=key` pairs): the X-Provider-Key
   * header, or a message field. Validated here, never logged.
   */
  providerKey?: string;
  /** The message field `providerKey` came in, named in its error; the X-Provider-Key header when absent. */
  providerKeyField?: string;
  /** The user it belongs to: followers with resource scope `own` must be them. Undefined while auth is off. */
  owner?: string;
  /**
   * The client left (disconnect) or the caller gave up. Without `detach` the completion is cancelled at once;
   * with it, the client only stops following (see DetachMode).
   */
  signal?: AbortSignal;
  /** What `signal` does: `resume` for streaming edges whose client may reconnect, `followed` for non-streaming ones. */
  detach?: DetachMode;
  /** Request-scoped logger; the root logger is used when absent. */
  log?: AppLogger;
  /** Set when an admin replays a dead letter: a failure is recorded on that letter, not dead-lettered again. */
  replayOf?: string;
}

/**
 * A started completion as its starter follows it (through the stream hub): its identity is known before the
 * first event, `seq` numbers each event. Iterate it once.
 */
export type CompletionStream = CompletionFollow;

/** A non-streaming completion, aggregated from its events. */
export interface CompletionResult {
  completionId: string;
  created: number;
  model: string;
  provider: string;
  content: string | null;
  reasoning: string | null;
  toolCalls: ChatToolCall[];
  finishReason: FinishReason;
  usage: Usage;
}

/**
 * The one entry point for generating a completion, for every edge and for workflows. It assembles the stream
 * once: plan the route (routing), execute it with failover (routing's FailoverExecutor), coalesce, sanitize,
 * and keep only the event types the caller may receive; and it observes the execution for metrics, logs and
 * dead letters. The stream ends with exactly one `completed` or `error` event, whatever the provider does
 * (throws, ends early, is aborted, or the node drains).
 */
@Injectable()
export class CompletionService {
  private readonly coalesce: boolean;

  constructor(
    private readonly config: AppConfig,
    private readonly routing: RoutingService,
    private readonly failover: FailoverExecutor,
    private readonly providers: ProviderRegistry,
    private readonly active: ActiveStreams,
    private readonly lifecycle: LifecycleService,
    private readonly metrics: MetricsService,
    private readonly deadLetters: DeadLetterService,
    private readonly sanitization: SanitizationService,
    private readonly hub: StreamHub,
    @Inject(ROOT_LOGGER) private readonly rootLog: AppLogger,
  ) {
    const { batch_similar_events, max_buffer_time } = config.streaming.buffering;
    this.coalesce = batch_similar_events && max_buffer_time > 0;
  }

  /**
   * Routes and starts a completion. Throws (before any event) when the request cannot be served: a malformed
   * provider key, unknown model, no key, node draining. Failures after that arrive as the stream's `error`
   * event. `model` and `provider` name the first route until the stream commits to one (its first event),
   * then the one serving.
   */
  start(request: ChatCompletionRequest, caller: CompletionCaller): CompletionStream {
    return this.hub.origin(this.open(request, caller), {
      eventTypes: caller.principal?.eventTypes,
      signal: caller.signal,
      detach: caller.detach,
    });
  }

  /**
   * Starts a completion that runs to its end whoever follows it (GraphQL createCompletion); its events are
   * followed through the hub (`StreamHub.follow`). Throws like `start`.
   */
  launch(request: ChatCompletionRequest, caller: CompletionCaller): CompletionSummary {
    return this.hub.launch(this.open(request, caller));
  }

  /** Runs a completion to the end and aggregates it; an `error` event becomes a thrown CompletionError. */
  async complete(request: ChatCompletionRequest, caller: CompletionCaller): Promise<CompletionResult> {
    const source = this.open(request, caller);
    // The whole answer, every event type: the allowed-event filter applies to streams. Its client leaving
    // stops it unless someone else follows it (it never told its id).
    const stream = this.hub.origin(source, {
      signal: caller.signal,
      ...(caller.detach ? { detach: 'followed' as const } : {}),
    });
    return this.aggregate(stream, (error) => source.abort(error));
  }

  /** plan -> execute (observed) -> coalesce -> sanitize: the hub's source (each follower gets its event types). */
  private open(request: ChatCompletionRequest, caller: CompletionCaller): HubSource {
    const keys = this.providers.parseKeys(caller.providerKey, caller.providerKeyField);
    this.lifecycle.assertAcceptingWork();
    const targets = this.routing.plan(request, keys);
    // randomUUID draws from a cached entropy pool; randomBytes would be a synchronous call per completion.
    const completionId = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const plan: FailoverPlan = { completionId, request, targets };
    const progress = startProgress(plan);
    // The completion's own abort: a cancel from any node, the orphan grace, a memory bound (the hub decides
    // what the client's signal does).
    const cancel = new AbortController();
    const run = this.observe(plan, progress, caller, cancel);
    const { content_chunk_size, max_buffer_time } = this.config.streaming.buffering;
    const coalesced = this.coalesce
      ? coalesceEvents(run, { maxChars: content_chunk_size, maxWaitMs: max_buffer_time })
      : run;
    const events = this.sanitization.events(coalesced, caller.protocol, caller.principal?.sanitize);
    return {
      completionId,
      created: Math.floor(Date.now() / 1000),
      get model() {
        return progress.served.model.id;
      },
      get provider() {
        return progress.served.adapter.id;
      },
      events,
      protocol: caller.protocol,
      ...(caller.owner === undefined ? {} : { owner: caller.owner }),
      abort: (reason) => cancel.abort(reason),
    };
  }

  private async aggregate(
    stream: CompletionStream,
    abort: (error: CompletionError) => void,
  ): Promise<CompletionResult> {
    const limit = this.config.streaming.performance.max_memory_per_stream;
    const builder = new ResultBuilder();
    for await (const event of stream) {
      if (event.type === 'completed') {
        return {
          completionId: stream.completionId,
          created: stream.created,
          model: stream.model,
          provider: stream.provider,
          ...builder.output(),
          finishReason: event.finishReason,
          usage: event.usage,
        };
      }
      if (event.type === 'error') throw completionErrorOf(event.error);
      builder.add(event);
      if (builder.held > limit) {
        const error = new CompletionError(
          StreamErrorCode.MemoryLimitExceeded,
          `The completion exceeded ${limit} bytes held in memory; use stream: true for long outputs.`,
        );
        abort(error);
        stream.close();
        throw error;
      }
    }
    throw new CompletionError(StreamErrorCode.Internal, 'The completion ended without a result.');
  }

  /**
   * Runs the failover executor as a completion: registered with the node (drain, cancel), bounded by
   * max_stream_duration, counted and logged when it ends; a terminal error that dead-letters waits until its
   * letter is durable and then names it. `controller` is the completion's own abort (the hub's cancel, the
   * node's drain, the deadline); the caller's signal is the hub's to read.
   */
  private observe(
    plan: FailoverPlan,
    progress: FailoverProgress,
    caller: CompletionCaller,
    controller: AbortController,
  ): AsyncGenerator<StreamEvent> {
    const { completionId } = plan;
    const log = caller.log ?? this.rootLog;
    const maxDuration = this.config.streaming.error_handling.max_stream_duration;
    const receivedAt = new Date().toISOString();
    let started = 0;
    let deadline: NodeJS.Timeout | undefined;

    // The hooks run inside the executor's own generator: observing adds no stream layer (a hop per event).
    return this.failover.execute(plan, {
      signal: controller.signal,
      log,
      progress,
      onStart: () => {
        started = performance.now();
        this.active.add(completionId, controller, caller.protocol);
        this.metrics.activeStreams.labels(caller.protocol).inc();
        deadline = setTimeout(() => controller.abort(tooLong(maxDuration)), maxDuration).unref();
      },
      // The letter is durable (queue or spool) before any edge can answer: a crash now loses nothing told.
      settle: async (terminal) =>
        terminal.type === 'error' && deadLetters(terminal.error.code) && caller.replayOf === undefined
          ? await this.deadLetter(plan, progress, terminal, caller, receivedAt)
          : terminal,
      onEnd: (terminal) => {
        clearTimeout(deadline);
        this.active.remove(completionId);
        const outcome = outcomeOf(terminal);
        const durationMs = performance.now() - started;
        const served = progress.served;
        this.metrics.activeStreams.labels(caller.protocol).dec();
        this.metrics.streamDuration.labels(caller.protocol, outcome).observe(durationMs / 1000);
        this.metrics.providerRequests.labels(served.adapter.id, outcome).inc();
        if (terminal?.type === 'error') {
          this.metrics.streamErrors.labels(caller.protocol, terminal.error.code).inc();
        }
        log.info(
          {
            completion_id: completionId,
            model: served.model.id,
            provider: served.adapter.id,
            protocol: caller.protocol,
            outcome,
            error_code: terminal?.type === 'error' ? terminal.error.code : undefined,
            finish_reason: terminal?.type === 'completed' ? terminal.finishReason : undefined,
            usage: terminal?.type === 'completed' ? terminal.usage : undefined,
            attempts: progress.attempts.length + (terminal?.type === 'completed' ? 1 : 0),
            splices: progress.splices > 0 ? progress.splices : undefined,
            chunks: progress.chunks,
            ttft_ms: progress.firstTokenMs === undefined ? undefined : Math.round(progress.firstTokenMs),
            duration_ms: Math.round(durationMs),
          },
          'completion finished',
        );
      },
    });
  }

  /** Records the dead letter and waits until it is durable; the event then names it (unless it was lost). */
  private async deadLetter(
    plan: FailoverPlan,
    progress: FailoverProgress,
    event: ErrorEvent,
    caller: CompletionCaller,
    receivedAt: string,
  ): Promise<ErrorEvent> {
    const { error } = event;
    const { id, storedAs } = await this.deadLetters.recordDurably({
      request: plan.request,
      requestId: caller.requestId,
      completionId: plan.completionId,
      protocol: caller.protocol,
      errorKind: error.code,
      errorMessage: error.message,
      attempts: progress.attempts,
      chain: plan.targets.map((t) => t.model.id),
      byok: plan.targets.some((t) => t.apiKey !== undefined),
      receivedAt,
      failedAt: new Date().toISOString(),
    });
    return storedAs === 'lost' ? event : { ...event, error: { ...error, deadLetterId: id } };
  }
}

function outcomeOf(terminal: TerminalEvent | undefined): StreamOutcome {
  if (!terminal || (terminal.type === 'error' && terminal.error.code === StreamErrorCode.Cancelled))
    return 'cancelled';
  return terminal.type === 'completed' ? 'completed' : 'error';
}

function tooLong(ms: number): CompletionError {
  return new CompletionError(
    StreamErrorCode.ProviderTimeout,
    `The completion ran longer than streaming.error_handling.max_stream_duration (${ms} ms).`,
    { retryable: false },
  );
}

/** A stream's error as the error an edge throws when no stream has started yet (an HTTP status). */
export function completionErrorOf(error: StreamError): CompletionError {
  return new CompletionError(error.code, error.message, {
    retryable: error.retryable,
    retryAfterMs: error.retryAfterMs,
    param: error.param,
    deadLetterId: error.deadLetterId,
  });
}
