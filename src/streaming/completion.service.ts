import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { MetricsService, type Protocol, type StreamOutcome } from '../analytics/metrics.service';
import { CompletionError, DomainError, StreamErrorCode } from '../contract/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import type { ProviderKeys } from '../contract/provider-keys';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeadLetterAttempt } from '../dead-letter/dead-letter';
import { DeadLetterService } from '../dead-letter/dead-letter.service';
import { CircuitBreakerService } from '../routing/circuit-breaker.service';
import { LatencyTracker } from '../routing/latency-tracker.service';
import { ProviderHealth } from '../routing/provider-health.service';
import { countsAgainstProvider, deadLetters, recoveryFor } from '../routing/recovery';
import { RoutingService, type RouteTarget } from '../routing/routing.service';
import { ActiveStreams } from './active-streams.service';
import { SanitizationService } from '../sanitization/sanitization.service';
import type { ChatCompletionRequest, ChatToolCall } from '../contract/chat-request';
import { coalesceEvents } from './event-coalescer';
import { ResultBuilder } from './result-builder';
import {
  type ErrorEvent,
  type FinishReason,
  type Splice,
  type StreamError,
  type StreamEvent,
  type TerminalEvent,
  type Usage,
} from '../contract/stream-event';

export interface CompletionContext {
  /** Correlates logs; the edge's request id. */
  requestId: string;
  protocol: Protocol;
  /** Aborts the completion (client disconnect, cancel). */
  signal?: AbortSignal;
  /** Request-scoped logger; the root logger is used when absent. */
  log?: AppLogger;
  /** The caller's own provider keys (X-Provider-Key), already parsed by the edge. */
  providerKeys?: ProviderKeys;
  /** Set when an admin replays a dead letter: a failure is recorded on that letter, not dead-lettered again. */
  replayOf?: string;
  /** The caller's PII sanitization claim: true / false overrides the route's setting (`protocol`). */
  sanitize?: boolean;
}

/** A started completion: its identity is known before the first event. Iterate it once. */
export interface CompletionStream extends AsyncIterable<StreamEvent> {
  readonly completionId: string;
  /** Unix seconds, the same on every chunk. */
  readonly created: number;
  /** The public model id that was routed to. */
  readonly model: string;
  readonly provider: string;
}

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
 * The one entry point for generating a completion, for every edge and for workflows. It routes the request,
 * runs the provider, and guarantees the stream ends with exactly one `completed` or `error` event, whatever
 * the provider does (throws, ends early, is aborted, or the node drains).
 */
@Injectable()
export class CompletionService {
  private readonly coalesce: boolean;

  constructor(
    private readonly config: AppConfig,
    private readonly routing: RoutingService,
    private readonly active: ActiveStreams,
    private readonly lifecycle: LifecycleService,
    private readonly metrics: MetricsService,
    private readonly circuits: CircuitBreakerService,
    private readonly latency: LatencyTracker,
    private readonly health: ProviderHealth,
    private readonly deadLetters: DeadLetterService,
    private readonly sanitization: SanitizationService,
    @Inject(ROOT_LOGGER) private readonly rootLog: AppLogger,
  ) {
    const { batch_similar_events, max_buffer_time } = config.streaming.buffering;
    this.coalesce = batch_similar_events && max_buffer_time > 0;
  }

  /**
   * Routes and starts a completion. Throws (before any event) when the request cannot be served: unknown
   * model, no key, node draining. Failures after that arrive as the stream's `error` event. `model` and
   * `provider` name the first route until the stream commits to one (its first event), then the one serving.
   */
  start(request: ChatCompletionRequest, ctx: CompletionContext): CompletionStream {
    this.lifecycle.assertAcceptingWork();
    const targets = this.routing.plan(request, ctx.providerKeys);
    // randomUUID draws from a cached entropy pool; randomBytes would be a synchronous call per completion.
    const completionId = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const route: ServedRoute = { target: targets[0]! };
    const run = this.run(targets, request, completionId, ctx, route);
    const { content_chunk_size, max_buffer_time } = this.config.streaming.buffering;
    const coalesced = this.coalesce
      ? coalesceEvents(run, { maxChars: content_chunk_size, maxWaitMs: max_buffer_time })
      : run;
    const events = this.sanitization.events(coalesced, ctx.protocol, ctx.sanitize);
    return {
      completionId,
      created: Math.floor(Date.now() / 1000),
      get model() {
        return route.target.model.id;
      },
      get provider() {
        return route.target.adapter.id;
      },
      [Symbol.asyncIterator]: () => events,
    };
  }

  /** Runs a completion to the end and aggregates it; an `error` event becomes a thrown CompletionError. */
  async complete(request: ChatCompletionRequest, ctx: CompletionContext): Promise<CompletionResult> {
    // Its own abort, so that leaving early stops the provider at once (before the iterator is closed).
    const local = new AbortController();
    const onAbort = () => local.abort(ctx.signal?.reason);
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.aggregate(this.start(request, { ...ctx, signal: local.signal }), local);
    } finally {
      ctx.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async aggregate(stream: CompletionStream, local: AbortController): Promise<CompletionResult> {
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
        local.abort(error);
        throw error;
      }
    }
    throw new CompletionError(StreamErrorCode.Internal, 'The completion ended without a result.');
  }

  /**
   * Walks the route chain (README "Routing and failover"). Nothing is yielded until an attempt produces its
   * first event (commit); any failure before that takes the recovery the error kind calls for (retry the same
   * provider, or the next one), so the caller sees one clean stream. After commit a failure ends the stream
   * with an error event, or, with `continue_after_failure`, continues on the next provider from the partial
   * answer. Exactly one terminal event, always.
   */
  private async *run(
    targets: RouteTarget[],
    request: ChatCompletionRequest,
    completionId: string,
    ctx: CompletionContext,
    route: ServedRoute,
  ): AsyncGenerator<StreamEvent> {
    const controller = new AbortController();
    const onClientAbort = () => controller.abort(ctx.signal?.reason);
    if (ctx.signal?.aborted) onClientAbort();
    else ctx.signal?.addEventListener('abort', onClientAbort, { once: true });

    const log = ctx.log ?? this.rootLog;
    const settings = this.config.streaming.error_handling;
    const holdFirstToken = request.stream === true;
    const spliceOnFailure = holdFirstToken && settings.continue_after_failure;
    const receivedAt = new Date().toISOString();
    const started = performance.now();
    const attempts: DeadLetterAttempt[] = [];
    const splices: Splice[] = [];
    let body = request;
    let committed = false;
    let partial = '';
    let spliceable = spliceOnFailure;
    let firstTokenMs: number | undefined;
    let terminal: TerminalEvent | undefined;
    let lastError: StreamError | undefined;
    let refusedRetryAfter: number | undefined;
    let chunks = 0;
    this.active.add(completionId, controller, ctx.protocol);
    this.metrics.activeStreams.labels(ctx.protocol).inc();
    const deadline = setTimeout(
      () => controller.abort(tooLong(settings.max_stream_duration)),
      settings.max_stream_duration,
    ).unref();

    try {
      let index = 0;
      let retries = 0;
      chain: while (index < targets.length && !controller.signal.aborted) {
        const target = targets[index]!;
        const { adapter, model, apiKey } = target;
        // Every attempt, retries included, asks the circuit: it may have opened meanwhile.
        const admission = await this.circuits.admit(adapter.id, model.id);
        if (controller.signal.aborted) {
          if (admission.trial) void this.circuits.release(adapter.id, model.id);
          break;
        }
        if (!admission.allowed) {
          refusedRetryAfter = Math.min(refusedRetryAfter ?? Infinity, admission.retryAfterMs ?? Infinity);
          index++;
          retries = 0;
          continue;
        }
        const attempt = new AbortController();
        const onAbort = () => attempt.abort(controller.signal.reason);
        controller.signal.addEventListener('abort', onAbort, { once: true });
        const timer = holdFirstToken
          ? setTimeout(
              () => attempt.abort(firstTokenTimeout(adapter.id, settings.first_token_timeout)),
              settings.first_token_timeout,
            )
          : undefined;
        const attemptStarted = new Date().toISOString();
        const attemptStartedAt = performance.now();
        // Non-streaming requests hold the whole answer, so a failure anywhere in it can still fail over.
        const held: StreamEvent[] | undefined = holdFirstToken ? undefined : [];
        let produced = 0;
        let error: StreamError | undefined;
        let ended = false;
        try {
          try {
            const upstream = adapter.stream({ completionId, model, body, signal: attempt.signal, apiKey });
            for await (const event of upstream) {
              if (produced++ === 0) {
                clearTimeout(timer);
                if (event.type !== 'error')
                  this.latency.record(adapter.id, model.id, performance.now() - attemptStartedAt);
              }
              // A first frame that is an error (a 200 that fails at once) does not commit.
              if (event.type === 'error') {
                error = event.error;
                break;
              }
              if (!committed && (holdFirstToken || event.type === 'completed')) {
                committed = true;
                route.target = target;
                firstTokenMs = performance.now() - started;
                this.metrics.timeToFirstToken.labels(adapter.id, model.id).observe(firstTokenMs / 1000);
              }
              if (event.type === 'completed') {
                terminal = splices.length > 0 ? { ...event, splices } : event;
                break;
              }
              if (spliceable) {
                if (event.type === 'content_chunk') partial += event.content;
                else if (event.type === 'tool_call') spliceable = false;
              }
              if (held) {
                held.push(event);
                continue;
              }
              chunks++;
              yield event;
            }
            if (!terminal && !error)
              error = streamError(StreamErrorCode.InvalidResponse, endedEarly(adapter.id), true);
          } catch (err) {
            error = this.toStreamError(err, attempt.signal, completionId, log);
          }
          ended = true;
        } finally {
          clearTimeout(timer);
          controller.signal.removeEventListener('abort', onAbort);
          // The consumer stopped reading mid-attempt: stop the upstream, and free a half-open trial slot.
          if (!ended) {
            attempt.abort();
            if (admission.trial) void this.circuits.release(adapter.id, model.id);
          }
        }

        if (terminal) {
          this.settle(target, admission.trial, undefined);
          if (held) {
            chunks += held.length;
            yield* held;
          }
          break chain;
        }
        error ??= streamError(StreamErrorCode.Internal, 'The provider failed unexpectedly.', true);
        attempts.push({
          provider: adapter.id,
          model: model.id,
          code: error.code,
          message: error.message,
          startedAt: attemptStarted,
          endedAt: new Date().toISOString(),
        });
        this.settle(target, admission.trial, error);
        lastError = error;
        if (controller.signal.aborted) break chain;

        const hasNext = this.hasNext(targets, index);
        if (committed) {
          // Past the first token: the client already has part of an answer.
          if (spliceable && hasNext && partial !== '') {
            splices.push({ at: partial.length, from: model.id, reason: error.code });
            this.metrics.splices.labels(adapter.id).inc();
            log.warn(
              { completion_id: completionId, provider: adapter.id, code: error.code },
              'stream continued on the next provider',
            );
            body = withAssistantPrefix(request, partial);
            index++;
            retries = 0;
            continue chain;
          }
          break chain;
        }
        if (produced === 0 && countsAgainstProvider(error.code) && apiKey === undefined) {
          // A provider that fails before its first token ranks as slow for lowest_latency, not as unmeasured.
          this.latency.record(adapter.id, model.id, settings.first_token_timeout);
        }
        const recovery = recoveryFor(error, { retries, hasNext, callerKey: apiKey !== undefined }, settings);
        if (recovery.action === 'fail') break chain;
        if (recovery.action === 'next') {
          this.metrics.failovers.labels(adapter.id, error.code).inc();
          log.info(
            { completion_id: completionId, provider: adapter.id, code: error.code },
            'failing over to the next provider',
          );
          index++;
          retries = 0;
          continue chain;
        }
        this.metrics.retries.labels(adapter.id, error.code).inc();
        try {
          await sleep(recovery.delayMs, undefined, { signal: controller.signal });
        } catch {
          break chain;
        }
        retries++;
      }
      terminal ??= this.finalError(completionId, controller.signal, lastError, refusedRetryAfter);
      if (terminal.type === 'error' && deadLetters(terminal.error.code) && ctx.replayOf === undefined) {
        // The letter is durable (queue or spool) before any edge can answer: a crash now loses nothing told.
        terminal = await this.deadLetter(request, targets, attempts, terminal, {
          completionId,
          ctx,
          receivedAt,
        });
      }
      yield terminal;
    } finally {
      clearTimeout(deadline);
      ctx.signal?.removeEventListener('abort', onClientAbort);
      this.active.remove(completionId);
      const outcome = this.outcomeOf(terminal);
      const durationMs = performance.now() - started;
      const served = route.target;
      this.metrics.activeStreams.labels(ctx.protocol).dec();
      this.metrics.streamDuration.labels(ctx.protocol, outcome).observe(durationMs / 1000);
      this.metrics.providerRequests.labels(served.adapter.id, outcome).inc();
      if (terminal?.type === 'error') {
        this.metrics.streamErrors.labels(ctx.protocol, terminal.error.code).inc();
      }
      log.info(
        {
          completion_id: completionId,
          model: served.model.id,
          provider: served.adapter.id,
          protocol: ctx.protocol,
          outcome,
          error_code: terminal?.type === 'error' ? terminal.error.code : undefined,
          finish_reason: terminal?.type === 'completed' ? terminal.finishReason : undefined,
          usage: terminal?.type === 'completed' ? terminal.usage : undefined,
          attempts: attempts.length + (terminal?.type === 'completed' ? 1 : 0),
          splices: splices.length > 0 ? splices.length : undefined,
          chunks,
          ttft_ms: firstTokenMs === undefined ? undefined : Math.round(firstTokenMs),
          duration_ms: Math.round(durationMs),
        },
        'completion finished',
      );
    }
  }

  /** Whether a target after `index` may still be tried (its circuit not known to be open). */
  private hasNext(targets: RouteTarget[], index: number): boolean {
    for (let i = index + 1; i < targets.length; i++) {
      const { adapter, model } = targets[i]!;
      if (!this.circuits.isOpen(adapter.id, model.id)) return true;
    }
    return false;
  }

  /**
   * An attempt's outcome, for its circuit and the provider's key health. Failures on a caller's own key say
   * nothing about the provider for everyone else, so they do not count against the shared circuit; a
   * half-open trial whose outcome does not count is released.
   */
  private settle(target: RouteTarget, trial: boolean, error: StreamError | undefined): void {
    const { adapter, model, apiKey } = target;
    if (!error) {
      void this.circuits.record(adapter.id, model.id, true, trial);
      if (apiKey === undefined) this.health.clear(adapter.id);
      return;
    }
    if (countsAgainstProvider(error.code) && apiKey === undefined)
      void this.circuits.record(adapter.id, model.id, false, trial);
    else if (trial) void this.circuits.release(adapter.id, model.id);
    if (error.code === StreamErrorCode.AuthenticationFailed && apiKey === undefined)
      this.health.flagMisconfigured(adapter.id, error.message);
  }

  /** The terminal error when the chain ended without a completion. */
  private finalError(
    completionId: string,
    signal: AbortSignal,
    lastError: StreamError | undefined,
    refusedRetryAfter: number | undefined,
  ): ErrorEvent {
    if (signal.aborted) return this.abortEvent(completionId, signal);
    if (lastError) return { type: 'error', completionId, error: lastError };
    const retryAfterMs =
      refusedRetryAfter !== undefined && Number.isFinite(refusedRetryAfter) ? refusedRetryAfter : undefined;
    return {
      type: 'error',
      completionId,
      error: {
        code: StreamErrorCode.ServiceUnavailable,
        message: 'Every provider for this model is failing right now (circuit open); retry later.',
        retryable: true,
        retryAfterMs,
      },
    };
  }

  /** Records the dead letter and waits until it is durable; the event then names it (unless it was lost). */
  private async deadLetter(
    request: ChatCompletionRequest,
    targets: RouteTarget[],
    attempts: DeadLetterAttempt[],
    event: ErrorEvent,
    meta: { completionId: string; ctx: CompletionContext; receivedAt: string },
  ): Promise<ErrorEvent> {
    const { error } = event;
    const { id, storedAs } = await this.deadLetters.recordDurably({
      request,
      requestId: meta.ctx.requestId,
      completionId: meta.completionId,
      protocol: meta.ctx.protocol,
      errorKind: error.code,
      errorMessage: error.message,
      attempts,
      chain: targets.map((t) => t.model.id),
      byok: targets.some((t) => t.apiKey !== undefined),
      receivedAt: meta.receivedAt,
      failedAt: new Date().toISOString(),
    });
    return storedAs === 'lost' ? event : { ...event, error: { ...error, deadLetterId: id } };
  }

  private outcomeOf(terminal: TerminalEvent | undefined): StreamOutcome {
    if (!terminal || (terminal.type === 'error' && terminal.error.code === StreamErrorCode.Cancelled))
      return 'cancelled';
    return terminal.type === 'completed' ? 'completed' : 'error';
  }

  private toStreamError(
    err: unknown,
    signal: AbortSignal,
    completionId: string,
    log: AppLogger,
  ): StreamError {
    if (signal.aborted) return this.abortEvent(completionId, signal).error;
    if (err instanceof DomainError && isStreamCode(err.code)) return fromDomainError(completionId, err).error;
    log.error({ err, completion_id: completionId }, 'provider failed unexpectedly');
    return streamError(StreamErrorCode.Internal, 'The provider failed unexpectedly.', true);
  }

  /** Why an aborted completion ended: the abort's DomainError (drain, first-token timeout) or a cancel. */
  private abortEvent(completionId: string, signal: AbortSignal): ErrorEvent {
    const reason: unknown = signal.reason;
    if (reason instanceof DomainError) return fromDomainError(completionId, reason);
    return errorEvent(completionId, StreamErrorCode.Cancelled, 'The request was cancelled.', false);
  }
}

/** The route a completion is being served by; the first planned one until the stream commits. */
interface ServedRoute {
  target: RouteTarget;
}

function firstTokenTimeout(provider: string, ms: number): CompletionError {
  return new CompletionError(
    StreamErrorCode.ProviderTimeout,
    `${provider}: no first token within ${ms} ms.`,
    { retryable: true },
  );
}

function tooLong(ms: number): CompletionError {
  return new CompletionError(
    StreamErrorCode.ProviderTimeout,
    `The completion ran longer than streaming.error_handling.max_stream_duration (${ms} ms).`,
    { retryable: false },
  );
}

function endedEarly(provider: string): string {
  return `${provider}: the stream ended without completing.`;
}

function streamError(code: StreamErrorCode, message: string, retryable: boolean): StreamError {
  return { code, message, retryable };
}

/** The request continued from a partial answer: the answer so far becomes an assistant prefix to extend. */
function withAssistantPrefix(request: ChatCompletionRequest, partial: string): ChatCompletionRequest {
  return { ...request, messages: [...request.messages, { role: 'assistant', content: partial }] };
}

const STREAM_CODES = new Set<string>(Object.values(StreamErrorCode));

function isStreamCode(code: string): code is StreamErrorCode {
  return STREAM_CODES.has(code);
}

function fromDomainError(completionId: string, err: DomainError): ErrorEvent {
  const code = isStreamCode(err.code) ? err.code : StreamErrorCode.BadRequest;
  const error: StreamError = {
    code,
    message: err.message,
    retryable: err.retryable,
    retryAfterMs: err.retryAfterMs,
  };
  if (err.param !== undefined) error.param = err.param;
  return { type: 'error', completionId, error };
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

function errorEvent(
  completionId: string,
  code: StreamErrorCode,
  message: string,
  retryable: boolean,
): ErrorEvent {
  return { type: 'error', completionId, error: { code, message, retryable } };
}
