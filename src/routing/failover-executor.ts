import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { MetricsService } from '../analytics/metrics.service';
import type { AppLogger } from '../common/logging/logger';
import { AppConfig } from '../config/app-config';
import type { ChatCompletionRequest } from '../contract/chat-request';
import { CompletionError, DomainError, StreamErrorCode } from '../contract/error-code';
import type { ErrorEvent, Splice, StreamError, StreamEvent, TerminalEvent } from '../contract/stream-event';
import { CircuitBreakerService } from './circuit-breaker.service';
import { LatencyTracker } from './latency-tracker.service';
import { ProviderHealth } from './provider-health.service';
import { countsAgainstProvider, recoveryFor } from './recovery';
import type { RouteTarget } from './routing.service';

/** What the executor runs: one completion's request over its planned provider chain. */
export interface FailoverPlan {
  completionId: string;
  request: ChatCompletionRequest;
  /** The chain RoutingService.plan() chose, tried in order. */
  targets: RouteTarget[];
}

/** One attempt that failed: which provider and model, why, and when (a dead letter keeps them). */
export interface FailedAttempt {
  provider: string;
  model: string;
  code: StreamErrorCode;
  message: string;
  /** ISO 8601. */
  startedAt: string;
  endedAt: string;
}

/**
 * What an execution has learnt so far, written by the executor as it goes, for whoever observes the
 * completion (its identity, metrics, logs, dead letters). Complete once the terminal event has been yielded.
 */
export interface FailoverProgress {
  /** The target serving: the first planned one until an attempt commits, then the one that did. */
  served: RouteTarget;
  /** The attempts that failed, in order. */
  attempts: FailedAttempt[];
  /** Continuations on the next provider after a failure past the first token. */
  splices: number;
  /** Milliseconds from the start of the execution to the committing attempt's first event. */
  firstTokenMs?: number;
  /** Events yielded before the terminal one. */
  chunks: number;
}

/** A fresh progress record for a plan: nothing tried yet, the first target named. */
export function startProgress(plan: FailoverPlan): FailoverProgress {
  return { served: plan.targets[0]!, attempts: [], splices: 0, chunks: 0 };
}

export interface FailoverRunOptions {
  /** Ends the execution (client gone, cancel, drain, the completion's deadline); its reason says why. */
  signal: AbortSignal;
  /** The request's logger. */
  log: AppLogger;
  progress: FailoverProgress;
  /**
   * The observer's hooks, run inside the execution so that observing adds no stream layer of its own: `onStart`
   * when the consumer first reads, `settle` on the terminal event before it is yielded (its answer is yielded
   * instead: a dead letter made durable first), `onEnd` once the execution is over, however it ended (the
   * terminal yielded, or undefined when the consumer stopped reading first).
   */
  onStart?(): void;
  settle?(terminal: TerminalEvent): Promise<TerminalEvent>;
  onEnd?(terminal: TerminalEvent | undefined): void;
}

/**
 * Walks a completion's route chain (README "Routing and failover") and yields its events, ending with exactly
 * one terminal event. Nothing is yielded until an attempt produces its first event (commit); any failure
 * before that takes the recovery the error kind calls for (routing/recovery.ts: retry the same provider, or
 * the next one), so the consumer sees one clean stream. After commit a failure ends the stream with an error
 * event, or, with `continue_after_failure`, continues on the next provider from the partial answer.
 * Every attempt asks the provider's circuit first and reports its outcome to the circuit, the latency
 * tracker and the provider's key health.
 */
@Injectable()
export class FailoverExecutor {
  constructor(
    private readonly config: AppConfig,
    private readonly circuits: CircuitBreakerService,
    private readonly latency: LatencyTracker,
    private readonly health: ProviderHealth,
    private readonly metrics: MetricsService,
  ) {}

  async *execute(plan: FailoverPlan, options: FailoverRunOptions): AsyncGenerator<StreamEvent> {
    const { completionId, request, targets } = plan;
    const { signal, log, progress } = options;
    options.onStart?.();
    let delivered: TerminalEvent | undefined;
    try {
      const settings = this.config.streaming.error_handling;
      const holdFirstToken = request.stream === true;
      const spliceOnFailure = holdFirstToken && settings.continue_after_failure;
      const started = performance.now();
      const splices: Splice[] = [];
      let body = request;
      let committed = false;
      let partial = '';
      let spliceable = spliceOnFailure;
      let terminal: TerminalEvent | undefined;
      let lastError: StreamError | undefined;
      let refusedRetryAfter: number | undefined;

      let index = 0;
      let retries = 0;
      chain: while (index < targets.length && !signal.aborted) {
        const target = targets[index]!;
        const { adapter, model, apiKey } = target;
        // Every attempt, retries included, asks the circuit: it may have opened meanwhile.
        const admission = await this.circuits.admit(adapter.id, model.id);
        if (signal.aborted) {
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
        const onAbort = () => attempt.abort(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
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
                progress.served = target;
                progress.firstTokenMs = performance.now() - started;
                this.metrics.timeToFirstToken
                  .labels(adapter.id, model.id)
                  .observe(progress.firstTokenMs / 1000);
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
              progress.chunks++;
              yield event;
            }
            if (!terminal && !error)
              error = streamError(StreamErrorCode.InvalidResponse, endedEarly(adapter.id), true);
          } catch (err) {
            error = toStreamError(err, attempt.signal, completionId, log);
          }
          ended = true;
        } finally {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          // The consumer stopped reading mid-attempt: stop the upstream, and free a half-open trial slot.
          if (!ended) {
            attempt.abort();
            if (admission.trial) void this.circuits.release(adapter.id, model.id);
          }
        }

        if (terminal) {
          this.settle(target, admission.trial, undefined);
          if (held) {
            progress.chunks += held.length;
            yield* held;
          }
          break chain;
        }
        error ??= streamError(StreamErrorCode.Internal, 'The provider failed unexpectedly.', true);
        progress.attempts.push({
          provider: adapter.id,
          model: model.id,
          code: error.code,
          message: error.message,
          startedAt: attemptStarted,
          endedAt: new Date().toISOString(),
        });
        this.settle(target, admission.trial, error);
        lastError = error;
        if (signal.aborted) break chain;

        const hasNext = this.hasNext(targets, index);
        if (committed) {
          // Past the first token: the client already has part of an answer.
          if (spliceable && hasNext && partial !== '') {
            splices.push({ at: partial.length, from: model.id, reason: error.code });
            progress.splices = splices.length;
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
          await sleep(recovery.delayMs, undefined, { signal });
        } catch {
          break chain;
        }
        retries++;
      }
      const last = terminal ?? finalError(completionId, signal, lastError, refusedRetryAfter);
      delivered = options.settle ? await options.settle(last) : last;
      yield delivered;
    } finally {
      options.onEnd?.(delivered);
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
}

/** The terminal error when the chain ended without a completion. */
function finalError(
  completionId: string,
  signal: AbortSignal,
  lastError: StreamError | undefined,
  refusedRetryAfter: number | undefined,
): ErrorEvent {
  if (signal.aborted) return abortEvent(completionId, signal);
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

function toStreamError(err: unknown, signal: AbortSignal, completionId: string, log: AppLogger): StreamError {
  if (signal.aborted) return abortEvent(completionId, signal).error;
  if (err instanceof DomainError && isStreamCode(err.code)) return fromDomainError(completionId, err).error;
  log.error({ err, completion_id: completionId }, 'provider failed unexpectedly');
  return streamError(StreamErrorCode.Internal, 'The provider failed unexpectedly.', true);
}

/** Why an aborted completion ended: the abort's DomainError (drain, first-token timeout) or a cancel. */
function abortEvent(completionId: string, signal: AbortSignal): ErrorEvent {
  const reason: unknown = signal.reason;
  if (reason instanceof DomainError) return fromDomainError(completionId, reason);
  return {
    type: 'error',
    completionId,
    error: streamError(StreamErrorCode.Cancelled, 'The request was cancelled.', false),
  };
}

function firstTokenTimeout(provider: string, ms: number): CompletionError {
  return new CompletionError(
    StreamErrorCode.ProviderTimeout,
    `${provider}: no first token within ${ms} ms.`,
    { retryable: true },
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
