import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { MetricsService, type Protocol, type StreamOutcome } from '../analytics/metrics.service';
import { CompletionError, DomainError, StreamErrorCode } from '../common/errors/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import type { ProviderKeys } from '../providers/provider-keys';
import { RoutingService, type RouteTarget } from '../routing/routing.service';
import { ActiveStreams } from './active-streams.service';
import type { ChatCompletionRequest, ChatToolCall } from './chat-request';
import { coalesceEvents } from './event-coalescer';
import {
  type ErrorEvent,
  type FinishReason,
  isTerminal,
  type StreamError,
  type StreamEvent,
  type TerminalEvent,
  type Usage,
} from './stream-event';

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
    @Inject(ROOT_LOGGER) private readonly rootLog: AppLogger,
  ) {
    const { batch_similar_events, max_buffer_time } = config.streaming.buffering;
    this.coalesce = batch_similar_events && max_buffer_time > 0;
  }

  /**
   * Routes and starts a completion. Throws (before any event) when the request cannot be served: unknown
   * model, node draining. Failures after that arrive as the stream's `error` event.
   */
  start(request: ChatCompletionRequest, ctx: CompletionContext): CompletionStream {
    if (!this.lifecycle.acceptingWork) {
      throw new CompletionError(
        StreamErrorCode.ServiceUnavailable,
        'This instance is shutting down; retry the request.',
        {
          retryable: true,
          retryAfterMs: 1_000,
        },
      );
    }
    const [target] = this.routing.plan(request, ctx.providerKeys);
    if (!target)
      throw new CompletionError(StreamErrorCode.ServiceUnavailable, 'No provider can serve this model.');
    // randomUUID draws from a cached entropy pool; randomBytes would be a synchronous call per completion.
    const completionId = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const run = this.run(target, request, completionId, ctx);
    const { content_chunk_size, max_buffer_time } = this.config.streaming.buffering;
    const events = this.coalesce
      ? coalesceEvents(run, { maxChars: content_chunk_size, maxWaitMs: max_buffer_time })
      : run;
    return {
      completionId,
      created: Math.floor(Date.now() / 1000),
      model: target.model.id,
      provider: target.adapter.id,
      [Symbol.asyncIterator]: () => events,
    };
  }

  /** Runs a completion to the end and aggregates it; an `error` event becomes a thrown CompletionError. */
  async complete(request: ChatCompletionRequest, ctx: CompletionContext): Promise<CompletionResult> {
    const stream = this.start(request, ctx);
    const limit = this.config.streaming.performance.max_memory_per_stream;
    let content = '';
    let reasoning = '';
    const calls: ChatToolCall[] = [];
    let held = 0;
    for await (const event of stream) {
      switch (event.type) {
        case 'content_chunk':
          content += event.content;
          held += event.content.length;
          break;
        case 'thinking':
          reasoning += event.content;
          held += event.content.length;
          break;
        case 'tool_call': {
          const call = (calls[event.index] ??= {
            id: event.toolCallId,
            type: 'function',
            function: { name: event.name, arguments: '' },
          });
          call.function.arguments += event.argumentsDelta;
          held += event.argumentsDelta.length;
          break;
        }
        case 'tool_result':
          break;
        case 'completed':
          return {
            completionId: stream.completionId,
            created: stream.created,
            model: stream.model,
            provider: stream.provider,
            content: content === '' && calls.length > 0 ? null : content,
            reasoning: reasoning === '' ? null : reasoning,
            toolCalls: calls.filter(Boolean),
            finishReason: event.finishReason,
            usage: event.usage,
          };
        case 'error':
          throw completionErrorOf(event.error);
      }
      if (held > limit) {
        throw new CompletionError(
          StreamErrorCode.MemoryLimitExceeded,
          `The completion exceeded ${limit} bytes held in memory; use stream: true for long outputs.`,
        );
      }
    }
    throw new CompletionError(StreamErrorCode.Internal, 'The completion ended without a result.');
  }

  private async *run(
    target: RouteTarget,
    request: ChatCompletionRequest,
    completionId: string,
    ctx: CompletionContext,
  ): AsyncGenerator<StreamEvent> {
    const controller = new AbortController();
    const onClientAbort = () => controller.abort(ctx.signal?.reason);
    if (ctx.signal?.aborted) onClientAbort();
    else ctx.signal?.addEventListener('abort', onClientAbort, { once: true });

    const { adapter, model, apiKey } = target;
    const log = ctx.log ?? this.rootLog;
    const started = performance.now();
    let firstTokenMs: number | undefined;
    let terminal: TerminalEvent | undefined;
    let chunks = 0;
    this.active.add(completionId, controller, ctx.protocol);
    this.metrics.activeStreams.labels(ctx.protocol).inc();

    try {
      try {
        const upstream = adapter.stream({
          completionId,
          model,
          body: request,
          signal: controller.signal,
          apiKey,
        });
        for await (const event of upstream) {
          if (isTerminal(event)) {
            terminal = event;
            break;
          }
          if (firstTokenMs === undefined) {
            firstTokenMs = performance.now() - started;
            this.metrics.timeToFirstToken.labels(adapter.id, model.id).observe(firstTokenMs / 1000);
          }
          chunks++;
          yield event;
        }
        terminal ??= errorEvent(
          completionId,
          StreamErrorCode.InvalidResponse,
          'The provider ended the stream without completing it.',
          true,
        );
      } catch (err) {
        terminal = this.toErrorEvent(completionId, err, controller.signal, log);
      }
      yield terminal;
    } finally {
      ctx.signal?.removeEventListener('abort', onClientAbort);
      this.active.remove(completionId);
      const outcome = this.outcomeOf(terminal);
      const durationMs = performance.now() - started;
      this.metrics.activeStreams.labels(ctx.protocol).dec();
      this.metrics.streamDuration.labels(ctx.protocol, outcome).observe(durationMs / 1000);
      this.metrics.providerRequests.labels(adapter.id, outcome).inc();
      if (terminal?.type === 'error')
        this.metrics.streamErrors.labels(ctx.protocol, terminal.error.code).inc();
      log.info(
        {
          completion_id: completionId,
          model: model.id,
          provider: adapter.id,
          protocol: ctx.protocol,
          outcome,
          error_code: terminal?.type === 'error' ? terminal.error.code : undefined,
          finish_reason: terminal?.type === 'completed' ? terminal.finishReason : undefined,
          usage: terminal?.type === 'completed' ? terminal.usage : undefined,
          chunks,
          ttft_ms: firstTokenMs === undefined ? undefined : Math.round(firstTokenMs),
          duration_ms: Math.round(durationMs),
        },
        'completion finished',
      );
    }
  }

  private outcomeOf(terminal: TerminalEvent | undefined): StreamOutcome {
    if (!terminal || (terminal.type === 'error' && terminal.error.code === StreamErrorCode.Cancelled))
      return 'cancelled';
    return terminal.type === 'completed' ? 'completed' : 'error';
  }

  private toErrorEvent(completionId: string, err: unknown, signal: AbortSignal, log: AppLogger): ErrorEvent {
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      if (reason instanceof DomainError) return fromDomainError(completionId, reason);
      return errorEvent(completionId, StreamErrorCode.Cancelled, 'The request was cancelled.', false);
    }
    if (err instanceof DomainError && isStreamCode(err.code)) return fromDomainError(completionId, err);
    log.error({ err, completion_id: completionId }, 'provider failed unexpectedly');
    return errorEvent(completionId, StreamErrorCode.Internal, 'The provider failed unexpectedly.', true);
  }
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
