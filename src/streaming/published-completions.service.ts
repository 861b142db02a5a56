import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CompletionError, RequestErrorCode, StreamErrorCode } from '../contract/error-code';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import type { BusSubscription } from '../events/bus-subscription';
import { EventBus, type TopicWriter } from '../events/event-bus.service';
import { completionTopic } from '../contract/topics';
import type { ChatCompletionRequest, ChatToolCall } from '../contract/chat-request';
import { CompletionService, type CompletionStream } from './completion.service';
import { ResultBuilder } from './result-builder';
import type {
  FinishReason,
  Splice,
  StreamError,
  StreamEvent,
  TerminalEvent,
  Usage,
} from '../contract/stream-event';
import { AuthError } from '../auth/auth.error';
import { eventVisibility } from '../auth/event-visibility';
import { owns, type Principal } from '../contract/principal';

export type CompletionStatus = 'running' | 'completed' | 'failed' | 'cancelled';

/** A published completion's state, kept beside its events and readable from any node. */
export interface CompletionSummary {
  completionId: string;
  status: CompletionStatus;
  /** The model and provider serving it (the first planned until it commits, then the one that answered). */
  model: string;
  provider: string;
  /** The user who started it (absent while auth is off); users with resource scope `own` see only theirs. */
  owner?: string;
  /** ISO 8601. */
  createdAt: string;
  finishedAt?: string;
  content: string | null;
  reasoning: string | null;
  toolCalls: ChatToolCall[];
  /** The output outgrew `max_memory_per_stream`: the summary holds its beginning; the events hold all of it. */
  truncated?: boolean;
  finishReason?: FinishReason;
  usage?: Usage;
  splices?: Splice[];
  error?: StreamError;
}

/** What a published completion's topic carries: its events, the terminal one naming who served it. */
export type PublishedEvent = StreamEvent | (TerminalEvent & { model: string; provider: string });

export interface PublishContext {
  requestId: string;
  /** The caller's own provider key(s) as sent (X-Provider-Key); validated by CompletionService. */
  providerKey?: string;
  log?: AppLogger;
  /** Who starts it: its owner, and whose sanitization claim applies. */
  principal?: Principal;
}

interface CancelMessage {
  completionId: string;
}

const CONTROL_TOPIC = 'completion-control';

/**
 * Completions that run on their own, detached from any connection, and publish their events on the bus
 * (`completion:<id>`) for subscribers on any node; what GraphQL's `createCompletion` starts. Each keeps a
 * summary (status, and the whole answer once done) for `event_bus.retention`. A cancel reaches the node that
 * runs it, wherever it was asked.
 */
@Injectable()
export class PublishedCompletions implements OnModuleInit, OnApplicationShutdown {
  private readonly running = new Map<string, AbortController>();
  private readonly log: AppLogger;
  private stopListening?: () => void;

  constructor(
    private readonly config: AppConfig,
    private readonly completions: CompletionService,
    private readonly bus: EventBus,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'PublishedCompletions' });
  }

  onModuleInit(): void {
    // Cancels asked on other nodes.
    this.stopListening = this.bus.listen<CancelMessage>(CONTROL_TOPIC, (event) => {
      if (typeof event.completionId === 'string') this.abort(event.completionId);
    });
  }

  onApplicationShutdown(): void {
    this.stopListening?.();
  }

  /**
   * Starts a completion and returns its summary once its topic exists, so a subscriber arriving right after
   * misses nothing. Throws (before anything runs) when the request cannot be served or Redis is away.
   */
  async start(request: ChatCompletionRequest, ctx: PublishContext): Promise<CompletionSummary> {
    const controller = new AbortController();
    const { principal, ...context } = ctx;
    const stream = this.completions.start(
      { ...request, stream: true },
      {
        ...context,
        protocol: 'graphql',
        signal: controller.signal,
        // The topic keeps every event: each follower gets the types its own principal allows (follow()).
        ...(principal ? { principal: { sanitize: principal.sanitize } } : {}),
      },
    );
    const summary: CompletionSummary = {
      completionId: stream.completionId,
      status: 'running',
      model: stream.model,
      provider: stream.provider,
      ...(principal && !principal.anonymous ? { owner: principal.userId } : {}),
      createdAt: new Date(stream.created * 1000).toISOString(),
      content: null,
      reasoning: null,
      toolCalls: [],
    };
    const writer = await this.bus.open<PublishedEvent, CompletionSummary>(
      completionTopic(stream.completionId),
      summary,
    );
    this.running.set(stream.completionId, controller);
    void this.pump(stream, writer, summary, ctx.log ?? this.log);
    return summary;
  }

  /**
   * The summary of a completion started on any node; not_found when unknown or expired, forbidden when
   * `viewer` may not see it (another user's, for a viewer with resource scope `own`).
   */
  async summary(completionId: string, viewer?: Principal): Promise<CompletionSummary> {
    const summary = await this.bus.summary<CompletionSummary>(completionTopic(completionId));
    if (!summary) throw notFound(completionId);
    if (viewer && !owns(viewer, summary.owner))
      throw AuthError.forbidden('This completion belongs to another user.');
    return summary;
  }

  /** Cancels a running completion wherever it runs; false when it had already finished. */
  async cancel(completionId: string, viewer?: Principal): Promise<boolean> {
    const summary = await this.summary(completionId, viewer);
    if (summary.status !== 'running') return false;
    if (!this.abort(completionId)) this.bus.publish<CancelMessage>(CONTROL_TOPIC, { completionId });
    return true;
  }

  /**
   * Follows a completion's events from any node: those kept first (after `after`), then live ones, to its
   * terminal event. Throws not_found for an unknown or expired completion.
   */
  async follow(
    completionId: string,
    options: { after?: number; overflow: () => Error; viewer?: Principal },
  ): Promise<BusSubscription<PublishedEvent>> {
    const { viewer, ...rest } = options;
    await this.summary(completionId, viewer);
    const accept = viewer ? eventVisibility<PublishedEvent>(viewer, false) : undefined;
    const subscription = await this.bus.follow<PublishedEvent>(completionTopic(completionId), {
      ...rest,
      ...(accept ? { accept } : {}),
    });
    if (!subscription) throw notFound(completionId);
    return subscription;
  }

  private async pump(
    stream: CompletionStream,
    writer: TopicWriter<PublishedEvent, CompletionSummary>,
    summary: CompletionSummary,
    log: AppLogger,
  ): Promise<void> {
    const limit = this.config.streaming.performance.max_memory_per_stream;
    const builder = new ResultBuilder();
    let terminal: TerminalEvent | undefined;
    try {
      for await (const event of stream) {
        if (event.type === 'completed' || event.type === 'error') {
          terminal = event;
          break;
        }
        writer.publish(event);
        if (summary.truncated) continue;
        builder.add(event);
        if (builder.held > limit) summary.truncated = true;
      }
    } catch (err) {
      log.error({ err, completion_id: stream.completionId }, 'published completion failed');
    }
    terminal ??= {
      type: 'error',
      completionId: stream.completionId,
      error: {
        code: StreamErrorCode.Internal,
        message: 'The completion ended without a result.',
        retryable: true,
      },
    };
    this.running.delete(stream.completionId);
    writer.publish({ ...terminal, model: stream.model, provider: stream.provider }, true);
    writer.summarize(finish(summary, stream, builder, terminal));
    await writer.flushed();
  }

  private abort(completionId: string): boolean {
    const controller = this.running.get(completionId);
    if (!controller) return false;
    controller.abort(new CompletionError(StreamErrorCode.Cancelled, 'The completion was cancelled.'));
    return true;
  }
}

function finish(
  summary: CompletionSummary,
  stream: CompletionStream,
  builder: ResultBuilder,
  terminal: TerminalEvent,
): CompletionSummary {
  const done: CompletionSummary = {
    ...summary,
    ...builder.output(),
    model: stream.model,
    provider: stream.provider,
    finishedAt: new Date().toISOString(),
    status: 'completed',
  };
  if (terminal.type === 'completed') {
    done.finishReason = terminal.finishReason;
    done.usage = terminal.usage;
    if (terminal.splices) done.splices = terminal.splices;
  } else {
    done.status = terminal.error.code === StreamErrorCode.Cancelled ? 'cancelled' : 'failed';
    done.error = terminal.error;
  }
  return done;
}

export function notFound(completionId: string): CompletionError {
  return new CompletionError(
    RequestErrorCode.NotFound,
    `No completion ${completionId}: it never existed here or its retention ended.`,
    { param: 'completionId' },
  );
}
