import { WORKFLOW_FEED, type WorkflowEvents, type WorkflowFeed } from '../../workflow/workflow-feed';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { MetricsService, type ChunkMeter } from '../../analytics/metrics.service';
import { DomainError } from '../../contract/error-code';
import type { AppLogger } from '../../common/logging/logger';
import { ROOT_LOGGER } from '../../common/logging/logging.module';
import { AppConfig } from '../../config/app-config';
import { CompletionService, type CompletionStream } from '../../streaming/completion.service';
import { validateChatRequest } from '../../streaming/dto/validate-chat-request';
import type { StreamEvent } from '../../contract/stream-event';
import type { ChatCompletionRequest } from '../../contract/chat-request';
import { can, OPEN_PRINCIPAL, type Principal } from '../../contract/principal';
import {
  type ClientMessage,
  type MuxError,
  MuxErrorCode,
  MESSAGE_ACCESS,
  MuxMessageError,
  parseClientMessage,
  STREAM_KIND_ACCESS,
  type ServerMessage,
  type StreamKind,
  toWorkflowMessage,
} from './mux-messages';

/**
 * Who a connection is and what it may do, from the WebSocket edge (auth). Without one a connection is the
 * open principal with no limits (auth off).
 */
export interface MuxSession {
  /** The connection's principal (it changes when the client sends a new token). */
  readonly principal: Principal;
  /** An `auth` message on an open connection: verifies the new token (the same user); throws DomainErrors. */
  reauthenticate(token: string): Principal;
  /** Counts one request (a completion, a subscription) against the user's rate limit; throws past it. */
  hit(): Promise<void>;
  /** Takes one of the user's concurrent-stream slots; throws when all are taken. Returns its release. */
  acquireStream(streamId: string): Promise<() => void>;
}

/** What the multiplexer needs of a socket; the WebSocket edge provides it. */
export interface MuxConnection {
  /** Queues one text message; never throws. */
  send(text: string): void;
  /** Bytes queued for the peer and not yet written to the network. */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
  /** Resolves when the send buffer may have drained (the caller checks `bufferedAmount` again). */
  whenWritable(): Promise<void>;
}

/** WebSocket close codes used by the protocol. */
export const CLOSE_TRY_AGAIN_LATER = 1013;
export const CLOSE_SLOW_CONSUMER = 4008;

/** A followed stream: its events once the follow has started, and the stream slot it holds. */
interface Follow {
  events?: WorkflowEvents;
  release?: () => void;
}

interface ConnectionState {
  id: string;
  connection: MuxConnection;
  session?: MuxSession;
  /** Live completions by the client's id. */
  completions: Map<string, AbortController>;
  streams: Set<StreamKind>;
  /** Followed workflows (by the id the client gave). */
  workflows: Map<string, Follow>;
  /** The agent_status stream, while subscribed. */
  agentStatus?: Follow;
  closed: boolean;
}

/** Past this multiple of the send budget a connection is closed as a slow consumer. */
const HARD_LIMIT_FACTOR = 4;
/** Workflows one connection may follow at once. */
const MAX_WORKFLOW_SUBSCRIPTIONS = 100;

/**
 * Many completions and subscriptions over one connection, each event tagged with its stream (README
 * "WebSocket"). Owns every registry (connections, completions, stream and workflow subscriptions); the edge
 * only hands it sockets and frames. Each completion is pumped on its own, so a slow one never holds up
 * another; a connection whose send buffer passes `message_buffer_size` pauses its completions (their
 * upstreams are not read) until the peer catches up.
 */
@Injectable()
export class StreamMultiplexer {
  private readonly connections = new Map<string, ConnectionState>();
  private readonly budget: number;
  private readonly maxConnections: number;
  private readonly maxCompletions: number;
  private readonly maxMessageBytes: number;
  private readonly meter: ChunkMeter;
  private readonly log: AppLogger;
  private sequence = 0;

  constructor(
    config: AppConfig,
    private readonly completions: CompletionService,
    metrics: MetricsService,
    @Inject(ROOT_LOGGER) log: AppLogger,
    @Optional() @Inject(WORKFLOW_FEED) private readonly feed?: WorkflowFeed,
  ) {
    const ws = config.streaming.protocols.websocket;
    this.budget = ws.message_buffer_size;
    this.maxConnections = ws.max_connections;
    this.maxCompletions = ws.max_completions_per_connection;
    this.maxMessageBytes = config.server.body_limit;
    this.meter = metrics.meter('ws');
    this.log = log.child({ context: 'StreamMultiplexer' });
  }

  /**
   * Registers a connection (authenticated by the edge as `session`); over `max_connections` it is told why and
   * closed, and undefined is returned.
   */
  open(connection: MuxConnection, session?: MuxSession): string | undefined {
    if (this.connections.size >= this.maxConnections) {
      connection.send(
        serialize({
          type: 'error',
          error: { code: MuxErrorCode.TooManyConnections, message: 'Too many connections; retry shortly.' },
        }),
      );
      connection.close(CLOSE_TRY_AGAIN_LATER, 'too many connections');
      return undefined;
    }
    const id = `ws-${++this.sequence}`;
    this.connections.set(id, {
      id,
      connection,
      ...(session ? { session } : {}),
      completions: new Map(),
      streams: new Set(),
      workflows: new Map(),
      closed: false,
    });
    return id;
  }

  /** One frame from the peer. Bad input gets an `error` message; the connection and its streams carry on. */
  receive(connectionId: string, data: Buffer | string, binary: boolean): void {
    const state = this.connections.get(connectionId);
    if (!state) return;
    try {
      if (binary) throw new MuxMessageError(MuxErrorCode.InvalidMessage, 'Send JSON in text frames.');
      const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      if (size > this.maxMessageBytes) {
        throw new MuxMessageError(
          MuxErrorCode.MessageTooLarge,
          `A message may be at most ${this.maxMessageBytes} bytes.`,
        );
      }
      this.handle(state, parseClientMessage(typeof data === 'string' ? data : data.toString('utf8')));
    } catch (err) {
      if (err instanceof MuxMessageError) {
        this.send(state, {
          type: 'error',
          ...(err.completionId === undefined ? {} : { completionId: err.completionId }),
          error: { code: err.code, message: err.message, ...(err.param ? { param: err.param } : {}) },
        });
      } else if (err instanceof DomainError) {
        // A refused `auth` (a bad or another user's token): the current token stays in force.
        this.send(state, { type: 'error', error: errorOf(err) });
      } else {
        this.log.error({ err, connection: connectionId }, 'WebSocket message failed');
        this.send(state, {
          type: 'error',
          error: { code: 'internal_error', message: 'The message failed.' },
        });
      }
    }
  }

  /** Tells the peer who it is authenticated as (after an `auth` message). */
  announce(connectionId: string, principal?: Principal): void {
    const state = this.connections.get(connectionId);
    if (!state) return;
    const { userId, expiresAt } = principal ?? state.session?.principal ?? OPEN_PRINCIPAL;
    this.send(state, {
      type: 'authenticated',
      userId,
      expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
    });
  }

  /** The peer went away: aborts its completions and forgets everything it registered. */
  close(connectionId: string): void {
    const state = this.connections.get(connectionId);
    if (!state) return;
    state.closed = true;
    for (const controller of state.completions.values()) controller.abort();
    state.completions.clear();
    for (const workflowId of [...state.workflows.keys()]) this.unfollow(state, workflowId);
    this.stopAgentStatus(state);
    this.connections.delete(connectionId);
  }

  /** Sizes of every registry (for tests and diagnostics). */
  stats(): { connections: number; completions: number; workflows: number; agentSubscribers: number } {
    let completions = 0;
    let workflows = 0;
    let agentSubscribers = 0;
    for (const state of this.connections.values()) {
      completions += state.completions.size;
      workflows += state.workflows.size;
      if (state.agentStatus) agentSubscribers++;
    }
    return { connections: this.connections.size, completions, workflows, agentSubscribers };
  }

  private handle(state: ConnectionState, message: ClientMessage): void {
    const access = MESSAGE_ACCESS[message.type];
    if (typeof access === 'object') this.authorize(state, access.type, access.access, message);
    switch (message.type) {
      case 'ping':
        return this.send(state, { type: 'pong' });
      case 'auth':
        return this.announce(state.id, state.session?.reauthenticate(message.token));
      case 'subscribe':
        for (const kind of message.streams) this.authorize(state, STREAM_KIND_ACCESS[kind], 'read', message);
        for (const kind of message.streams) state.streams.add(kind);
        if (state.streams.has('agent_status')) this.startAgentStatus(state);
        return this.acknowledge(state);
      case 'unsubscribe':
        for (const kind of message.streams) state.streams.delete(kind);
        if (!state.streams.has('agent_status')) this.stopAgentStatus(state);
        return this.acknowledge(state);
      case 'subscribe_workflow':
        return this.follow(state, message.workflowId, message.afterSequence);
      case 'unsubscribe_workflow':
        this.unfollow(state, message.workflowId);
        return this.acknowledge(state);
      case 'cancel': {
        const controller = state.completions.get(message.id);
        if (!controller) {
          throw new MuxMessageError(
            MuxErrorCode.UnknownCompletion,
            `No live completion '${message.id}' on this connection.`,
            'id',
            message.id,
          );
        }
        controller.abort();
        return;
      }
      case 'completion':
        return this.startCompletion(state, message.id, message.request, message.providerKey);
    }
  }

  /** Throws forbidden unless the connection's token grants `access` on `type`. */
  private authorize(
    state: ConnectionState,
    type: 'completion' | 'workflow' | 'agent',
    access: 'read' | 'write',
    message: ClientMessage,
  ): void {
    if (!state.session || can(state.session.principal, type, access)) return;
    throw new MuxMessageError(
      MuxErrorCode.Forbidden,
      `Your token does not allow ${type}:${access}.`,
      undefined,
      message.type === 'completion' ? message.id : undefined,
    );
  }

  private startCompletion(
    state: ConnectionState,
    id: string,
    body: Record<string, unknown>,
    providerKey?: string,
  ): void {
    if (state.completions.has(id)) {
      throw new MuxMessageError(
        MuxErrorCode.DuplicateId,
        `A completion '${id}' is already running on this connection.`,
        'id',
        id,
      );
    }
    if (state.completions.size >= this.maxCompletions) {
      throw new MuxMessageError(
        MuxErrorCode.TooManyCompletions,
        `At most ${this.maxCompletions} completions may run at once on one connection.`,
        undefined,
        id,
      );
    }
    let request: ChatCompletionRequest;
    try {
      // Always a stream here: events go out as they come (and the first-token rules of streams apply).
      request = validateChatRequest({ ...body, stream: true });
    } catch (err) {
      this.send(state, { type: 'error', completionId: id, error: errorOf(err) });
      return;
    }
    // Registered before admission (rate limits are checked in Redis), so a cancel right after finds it.
    const controller = new AbortController();
    state.completions.set(id, controller);
    void this.admit(state, id, request, controller, providerKey);
  }

  /** Rate limits (requests and a stream slot, shared by every node), then the completion itself. */
  private async admit(
    state: ConnectionState,
    id: string,
    request: ChatCompletionRequest,
    controller: AbortController,
    providerKey?: string,
  ): Promise<void> {
    const session = state.session;
    let release: (() => void) | undefined;
    let stream: CompletionStream;
    try {
      // Without a session (auth off) nothing is awaited: the completion starts (or is refused) at once, so
      // replies keep the order of the messages.
      if (session) {
        await session.hit();
        release = await session.acquireStream(`${state.id}:${id}`);
      }
      stream = this.completions.start(request, {
        requestId: `${state.id}:${id}`,
        protocol: 'ws',
        principal: session?.principal,
        providerKey,
        providerKeyField: 'providerKey',
        signal: controller.signal,
      });
    } catch (err) {
      release?.();
      if (state.completions.get(id) === controller) state.completions.delete(id);
      this.send(state, { type: 'error', completionId: id, error: errorOf(err) });
      return;
    }
    try {
      await this.pump(state, id, stream, controller);
    } finally {
      release?.();
    }
  }

  /** Forwards one completion's events; pauses (does not read on) while the peer's buffer is over budget. */
  private async pump(
    state: ConnectionState,
    id: string,
    stream: CompletionStream,
    controller: AbortController,
  ): Promise<void> {
    // Content deltas, the hot path, are written from a per-completion template (one JSON.stringify of the
    // text); the rarer messages go through JSON.stringify whole.
    const contentHead = `{"type":"content_chunk","completionId":${JSON.stringify(id)},"content":`;
    try {
      for await (const event of stream) {
        if (state.closed) break;
        if (event.type === 'content_chunk')
          this.sendText(state, `${contentHead}${JSON.stringify(event.content)}}`);
        else {
          const message = toMessage(id, event, stream);
          if (message) this.send(state, message);
        }
        if (event.type === 'completed' || event.type === 'error') break;
        if (state.connection.bufferedAmount > this.budget && !(await this.writable(state))) break;
      }
    } catch (err) {
      this.log.error({ err, connection: state.id, completion: id }, 'WebSocket completion failed');
      this.send(state, { type: 'error', completionId: id, error: errorOf(err) });
    } finally {
      if (state.completions.get(id) === controller) state.completions.delete(id);
    }
  }

  /** Waits until the peer's buffer is back under budget (on its drain); false when the connection closed. */
  private async writable(state: ConnectionState): Promise<boolean> {
    while (!state.closed && state.connection.bufferedAmount > this.budget) {
      await state.connection.whenWritable();
    }
    return !state.closed;
  }

  private acknowledge(state: ConnectionState): void {
    this.send(state, {
      type: 'subscribed',
      streams: [...state.streams],
      workflows: [...state.workflows.keys()],
    });
  }

  /**
   * Follows a workflow run (history first) or definition: acknowledged once the follow has started, so the
   * events come after the `subscribed`; an unknown id gets an `error` naming it.
   */
  private follow(state: ConnectionState, workflowId: string, after: number | undefined): void {
    const feed = this.feed;
    if (!feed)
      throw new MuxMessageError(MuxErrorCode.UnknownType, 'Workflows are not available here.', 'type');
    if (state.workflows.has(workflowId)) return this.acknowledge(state);
    if (state.workflows.size >= MAX_WORKFLOW_SUBSCRIPTIONS) {
      throw new MuxMessageError(
        MuxErrorCode.TooManySubscriptions,
        `At most ${MAX_WORKFLOW_SUBSCRIPTIONS} workflows may be followed at once on one connection.`,
        'workflowId',
      );
    }
    const entry: Follow = {};
    state.workflows.set(workflowId, entry);
    const session = state.session;
    const start = async (): Promise<WorkflowEvents> => {
      await session?.hit();
      entry.release = await session?.acquireStream(`${state.id}:workflow:${workflowId}`);
      return feed.follow(workflowId, {
        ...(after === undefined ? {} : { after }),
        overflow: slowConsumer,
        ...(session ? { viewer: session.principal } : {}),
      });
    };
    start().then(
      (events) => {
        if (state.closed || state.workflows.get(workflowId) !== entry) {
          entry.release?.();
          return void events.return();
        }
        entry.events = events;
        this.acknowledge(state);
        void this.pumpWorkflow(state, workflowId, entry, events, false);
      },
      (err: unknown) => {
        entry.release?.();
        if (state.workflows.get(workflowId) === entry) state.workflows.delete(workflowId);
        this.send(state, { type: 'error', workflowId, error: { ...errorOf(err), param: 'workflowId' } });
      },
    );
  }

  private unfollow(state: ConnectionState, workflowId: string): void {
    const entry = state.workflows.get(workflowId);
    if (!entry) return;
    state.workflows.delete(workflowId);
    entry.release?.();
    void entry.events?.return();
  }

  private startAgentStatus(state: ConnectionState): void {
    const feed = this.feed;
    if (state.agentStatus || !feed) return;
    const entry: Follow = {};
    state.agentStatus = entry;
    const session = state.session;
    const start = async (): Promise<WorkflowEvents> => {
      await session?.hit();
      entry.release = await session?.acquireStream(`${state.id}:agent_status`);
      return feed.agentStatus(slowConsumer, session?.principal);
    };
    start().then(
      (events) => {
        if (state.closed || state.agentStatus !== entry) {
          entry.release?.();
          return void events.return();
        }
        entry.events = events;
        void this.pumpWorkflow(state, undefined, entry, events, true);
      },
      (err: unknown) => {
        entry.release?.();
        if (state.agentStatus === entry) state.agentStatus = undefined;
        state.streams.delete('agent_status');
        this.send(state, { type: 'error', error: { ...errorOf(err), param: 'streams' } });
      },
    );
  }

  private stopAgentStatus(state: ConnectionState): void {
    state.agentStatus?.release?.();
    void state.agentStatus?.events?.return();
    state.agentStatus = undefined;
  }

  /** Forwards followed workflow events, pausing while the peer's buffer is over budget. */
  private async pumpWorkflow(
    state: ConnectionState,
    workflowId: string | undefined,
    entry: Follow,
    events: WorkflowEvents,
    agentStatus: boolean,
  ): Promise<void> {
    try {
      for await (const envelope of events) {
        if (state.closed) break;
        this.send(state, toWorkflowMessage(envelope, agentStatus));
        if (state.connection.bufferedAmount > this.budget && !(await this.writable(state))) break;
      }
    } catch (err) {
      this.send(state, {
        type: 'error',
        ...(workflowId === undefined ? {} : { workflowId }),
        error: errorOf(err),
      });
    } finally {
      entry.release?.();
      void events.return();
      if (workflowId !== undefined && state.workflows.get(workflowId) === entry)
        state.workflows.delete(workflowId);
      if (agentStatus && state.agentStatus === entry) {
        state.agentStatus = undefined;
        state.streams.delete('agent_status');
      }
    }
  }

  private send(state: ConnectionState, message: ServerMessage): void {
    if (!state.closed) this.sendText(state, serialize(message));
  }

  /**
   * Every message, completions' and control replies alike, counts against the hard limit: a peer that
   * stopped reading is closed as a slow consumer instead of growing the buffer.
   */
  private sendText(state: ConnectionState, text: string): void {
    if (state.closed) return;
    if (state.connection.bufferedAmount > this.budget * HARD_LIMIT_FACTOR) {
      state.connection.send(
        serialize({
          type: 'error',
          error: {
            code: MuxErrorCode.SlowConsumer,
            message: 'The connection fell too far behind; closing it.',
          },
        }),
      );
      state.connection.close(CLOSE_SLOW_CONSUMER, 'slow consumer');
      this.close(state.id);
      return;
    }
    this.meter.chunks.inc();
    this.meter.bytes.inc(Buffer.byteLength(text));
    state.connection.send(text);
  }
}

function slowConsumer(): Error {
  return new MuxMessageError(
    MuxErrorCode.SlowConsumer,
    'The connection fell too far behind this stream; it was ended (resume with afterSequence).',
  );
}

function serialize(message: ServerMessage): string {
  return JSON.stringify(message);
}

/** A StreamEvent as the protocol's message; undefined for events it has no form for. */
function toMessage(
  completionId: string,
  event: StreamEvent,
  stream: CompletionStream,
): ServerMessage | undefined {
  switch (event.type) {
    case 'content_chunk':
      return { type: 'content_chunk', completionId, content: event.content };
    case 'thinking':
      return { type: 'thinking_status', completionId, status: 'thinking', content: event.content };
    case 'tool_call':
      return {
        type: 'tool_call',
        completionId,
        tool: event.name,
        arguments: event.argumentsDelta,
        toolCallId: event.toolCallId,
        index: event.index,
      };
    case 'tool_result':
      return undefined;
    case 'completed':
      return {
        type: 'completed',
        completionId,
        usage: event.usage,
        finishReason: event.finishReason,
        model: stream.model,
        provider: stream.provider,
      };
    case 'error': {
      const { code, message, param, retryAfterMs, deadLetterId } = event.error;
      const error: MuxError = { code, message };
      if (param !== undefined) error.param = param;
      if (retryAfterMs !== undefined) error.retryAfterMs = retryAfterMs;
      if (deadLetterId !== undefined) error.deadLetterId = deadLetterId;
      return { type: 'error', completionId, error };
    }
  }
}

function errorOf(err: unknown): MuxError {
  if (err instanceof MuxMessageError) return { code: err.code, message: err.message };
  if (err instanceof DomainError) {
    const error: MuxError = { code: err.code, message: err.message };
    if (err.param !== undefined) error.param = err.param;
    if (err.retryAfterMs !== undefined) error.retryAfterMs = err.retryAfterMs;
    if (err.deadLetterId !== undefined) error.deadLetterId = err.deadLetterId;
    return error;
  }
  return { code: 'internal_error', message: 'The completion failed unexpectedly.' };
}
