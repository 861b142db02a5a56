import { Inject, Injectable, Optional } from '@nestjs/common';
import { MetricsService } from '../../analytics/metrics.service';
import type { AppLogger } from '../../common/logging/logger';
import { ROOT_LOGGER } from '../../common/logging/logging.module';
import { AppConfig } from '../../config/app-config';
import { DomainError } from '../../contract/error-code';
import { can, OPEN_PRINCIPAL, type Principal } from '../../contract/principal';
import { CompletionService } from '../../streaming/completion.service';
import { StreamHub } from '../../streaming/hub/stream-hub.service';
import { WORKFLOW_FEED, type WorkflowFeed } from '../../workflow/workflow-feed';
import {
  type ClientMessage,
  MESSAGE_ACCESS,
  MuxErrorCode,
  MuxMessageError,
  parseClientMessage,
  STREAM_KIND_ACCESS,
} from '../mux-messages';
import { closeWith, errorMessage, TOO_MANY_CONNECTIONS } from '../ws-errors';
import { CompletionFollows } from './completion-follows';
import { type CompletionHub, CompletionPump } from './completion-pump';
import { ConnectionState, type MuxConnection, type MuxSession, type SendBudget } from './connection-state';
import { WorkflowPump } from './workflow-pump';

/**
 * Many completions and subscriptions over one connection, each event tagged with its stream (README
 * "WebSocket"). The registry of connections and the dispatch of their messages: the edge hands it sockets and
 * frames; each message is checked against the token and handed to the completion pump (`completion`,
 * `cancel`), the completion follows (`subscribe_completion`, the `completion` stream: any completion, on the
 * stream hub) or the workflow pump (`subscribe_workflow`, the agent_status and workflow streams), which forward
 * their events paced by the connection's send budget.
 */
@Injectable()
export class StreamMultiplexer {
  private readonly connections = new Map<string, ConnectionState>();
  private readonly limits: SendBudget;
  private readonly maxConnections: number;
  private readonly maxMessageBytes: number;
  private readonly completionPump: CompletionPump;
  private readonly completionFollows: CompletionFollows;
  private readonly workflowPump: WorkflowPump;
  private readonly log: AppLogger;
  private sequence = 0;

  constructor(
    config: AppConfig,
    completions: CompletionService,
    @Inject(StreamHub) hub: CompletionHub,
    metrics: MetricsService,
    @Inject(ROOT_LOGGER) log: AppLogger,
    @Optional() @Inject(WORKFLOW_FEED) feed?: WorkflowFeed,
  ) {
    const ws = config.streaming.protocols.websocket;
    this.limits = { budget: ws.message_buffer_size, meter: metrics.meter('ws') };
    this.maxConnections = ws.max_connections;
    this.maxMessageBytes = config.server.body_limit;
    this.log = log.child({ context: 'StreamMultiplexer' });
    const max = ws.max_completions_per_connection;
    this.completionPump = new CompletionPump(completions, hub, max, this.log);
    this.completionFollows = new CompletionFollows(hub, max, this.log);
    this.workflowPump = new WorkflowPump(feed);
  }

  /**
   * Registers a connection (authenticated by the edge as `session`); over `max_connections` it is told why and
   * closed, and undefined is returned.
   */
  open(connection: MuxConnection, session?: MuxSession): string | undefined {
    if (this.connections.size >= this.maxConnections) {
      closeWith(connection, TOO_MANY_CONNECTIONS);
      return undefined;
    }
    const id = `ws-${++this.sequence}`;
    this.connections.set(
      id,
      new ConnectionState(id, connection, session, this.limits, (state) => this.close(state.id)),
    );
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
      // A refused message names what is wrong; a refused `auth` (a bad or another user's token) leaves the
      // current token in force; anything else is logged.
      if (!(err instanceof MuxMessageError) && !(err instanceof DomainError)) {
        this.log.error({ err, connection: connectionId }, 'WebSocket message failed');
      }
      state.send(errorMessage(err, {}, { fallback: 'The message failed.' }));
    }
  }

  /** Tells the peer who it is authenticated as (after an `auth` message). */
  announce(connectionId: string, principal?: Principal): void {
    const state = this.connections.get(connectionId);
    if (!state) return;
    const { userId, expiresAt } = principal ?? state.session?.principal ?? OPEN_PRINCIPAL;
    state.send({
      type: 'authenticated',
      userId,
      expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
    });
  }

  /**
   * The peer went away: detaches its completions (they run on for the orphan grace, for a client to follow
   * them again), stops everything it follows and forgets everything it registered.
   */
  close(connectionId: string): void {
    const state = this.connections.get(connectionId);
    if (!state) return;
    state.closed = true;
    this.completionPump.abortAll(state);
    this.completionFollows.unfollowAll(state);
    for (const workflowId of [...state.workflows.keys()]) this.workflowPump.unfollow(state, workflowId);
    this.workflowPump.stopAgentStatus(state);
    this.workflowPump.stopWorkflowRuns(state);
    this.connections.delete(connectionId);
  }

  /** Sizes of every registry (for tests and diagnostics). */
  stats(): MuxStats {
    const stats: MuxStats = {
      connections: this.connections.size,
      completions: 0,
      followedCompletions: 0,
      workflows: 0,
      agentSubscribers: 0,
      completionSubscribers: 0,
      workflowSubscribers: 0,
    };
    for (const state of this.connections.values()) {
      stats.completions += state.completions.size;
      stats.followedCompletions += state.followed.size + (state.completionFeed?.followers.size ?? 0);
      stats.workflows += state.workflows.size;
      if (state.agentStatus) stats.agentSubscribers++;
      if (state.completionFeed) stats.completionSubscribers++;
      if (state.workflowRuns) stats.workflowSubscribers++;
    }
    return stats;
  }

  private handle(state: ConnectionState, message: ClientMessage): void {
    const access = MESSAGE_ACCESS[message.type];
    if (typeof access === 'object') this.authorize(state, access.type, access.access, message);
    switch (message.type) {
      case 'ping':
        return state.send({ type: 'pong' });
      case 'auth':
        return this.announce(state.id, state.session?.reauthenticate(message.token));
      case 'subscribe':
        for (const kind of message.streams) this.authorize(state, STREAM_KIND_ACCESS[kind], 'read', message);
        for (const kind of message.streams) state.streams.add(kind);
        if (state.streams.has('agent_status')) this.workflowPump.startAgentStatus(state);
        if (state.streams.has('workflow')) this.workflowPump.startWorkflowRuns(state);
        if (state.streams.has('completion')) this.completionFollows.startFeed(state);
        return state.acknowledge();
      case 'unsubscribe':
        for (const kind of message.streams) state.streams.delete(kind);
        if (!state.streams.has('agent_status')) this.workflowPump.stopAgentStatus(state);
        if (!state.streams.has('workflow')) this.workflowPump.stopWorkflowRuns(state);
        if (!state.streams.has('completion')) this.completionFollows.stopFeed(state);
        return state.acknowledge();
      case 'subscribe_completion':
        return this.completionFollows.follow(state, message.completionId, message.afterSequence);
      case 'unsubscribe_completion':
        this.completionFollows.unfollow(state, message.completionId);
        return state.acknowledge();
      case 'subscribe_workflow':
        return this.workflowPump.follow(state, message.workflowId, message.afterSequence);
      case 'unsubscribe_workflow':
        this.workflowPump.unfollow(state, message.workflowId);
        return state.acknowledge();
      case 'cancel':
        return this.completionPump.cancel(state, message.id);
      case 'completion':
        return this.completionPump.start(state, message.id, message.request, message.providerKey);
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
}

/** The sizes of the multiplexer's registries. */
export interface MuxStats {
  connections: number;
  /** Completions the connections started and still run. */
  completions: number;
  /** Completions followed without being started here (subscribe_completion, the completion stream). */
  followedCompletions: number;
  workflows: number;
  agentSubscribers: number;
  completionSubscribers: number;
  workflowSubscribers: number;
}
