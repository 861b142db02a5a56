import type { ChunkMeter } from '../../analytics/metrics.service';
import type { Principal } from '../../contract/principal';
import type { CompletionFollow } from '../../streaming/hub/followers';
import type { WorkflowEvents } from '../../workflow/workflow-feed';
import type { ServerMessage, StreamKind } from '../mux-messages';
import { closeWith, SLOW_CONSUMER } from '../ws-errors';

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

/** A followed stream of workflow events: its events once the follow has started, and the stream slot it holds. */
export interface FollowedStream {
  events?: WorkflowEvents;
  release?: () => void;
}

/** A completion the client started on this connection (a `completion` message), by the client's id. */
export interface OwnCompletion {
  /**
   * Aborted when the connection closes: the completion is detached, not cancelled (it runs on for
   * `streaming.hub.orphan_grace`, for the client to follow it again by its `completionId`).
   */
  readonly controller: AbortController;
  /** The server's id, once it has started. */
  completionId?: string;
  /** A `cancel` came while it was still being admitted: it is not started. */
  cancelled?: boolean;
}

/**
 * A completion the connection follows without having started it (`subscribe_completion`, or one the
 * `completion` stream brought): its follower once the follow has started, and the stream slot it holds.
 */
export interface FollowedCompletion {
  follow?: CompletionFollow;
  release?: () => void;
}

/** The `completion` stream while subscribed: every completion the user may see, followed as it starts. */
export interface CompletionFeed {
  /** Stops hearing of starts (StreamHub.onStart). */
  stop?: () => void;
  /** The stream slot the subscription holds. */
  release?: () => void;
  /** The completions it follows now, by their ids. */
  readonly followers: Map<string, FollowedCompletion>;
}

/** How much a connection may have queued for its peer, and where what it sends is counted. */
export interface SendBudget {
  /** Bytes queued past which pumps pause (`message_buffer_size`). */
  readonly budget: number;
  readonly meter: ChunkMeter;
}

/** Past this multiple of the send budget a connection is closed as a slow consumer. */
const HARD_LIMIT_FACTOR = 4;

/**
 * One multiplexed connection: its socket and session, the registries of what runs on it (completions,
 * subscriptions, followed workflows), and its way out to the peer, paced by the send budget.
 */
export class ConnectionState {
  /** Live completions the client started, by the client's id. */
  readonly completions = new Map<string, OwnCompletion>();
  /** The server ids of those (the `completion` stream leaves them out: they come with the client's id). */
  readonly own = new Set<string>();
  /** Completions followed by `subscribe_completion`, by their ids. */
  readonly followed = new Map<string, FollowedCompletion>();
  readonly streams = new Set<StreamKind>();
  /** Followed workflows (by the id the client gave). */
  readonly workflows = new Map<string, FollowedStream>();
  /** The agent_status stream, while subscribed. */
  agentStatus?: FollowedStream;
  /** The `workflow` stream (every run's events), while subscribed. */
  workflowRuns?: FollowedStream;
  /** The `completion` stream, while subscribed. */
  completionFeed?: CompletionFeed;
  closed = false;

  constructor(
    readonly id: string,
    readonly connection: MuxConnection,
    readonly session: MuxSession | undefined,
    private readonly limits: SendBudget,
    /** Called when the connection is closed as a slow consumer (the registry forgets it). */
    private readonly dropped: (state: ConnectionState) => void,
  ) {}

  /** Whether the peer's buffer is over budget (a pump then waits on `writable` before reading on). */
  get overBudget(): boolean {
    return this.connection.bufferedAmount > this.limits.budget;
  }

  send(message: ServerMessage): void {
    if (!this.closed) this.sendText(JSON.stringify(message));
  }

  /**
   * Every message, completions' and control replies alike, counts against the hard limit: a peer that
   * stopped reading is closed as a slow consumer instead of growing the buffer.
   */
  sendText(text: string): void {
    if (this.closed) return;
    if (this.connection.bufferedAmount > this.limits.budget * HARD_LIMIT_FACTOR) {
      closeWith(this.connection, SLOW_CONSUMER);
      this.dropped(this);
      return;
    }
    this.limits.meter.chunks.inc();
    this.limits.meter.bytes.inc(Buffer.byteLength(text));
    this.connection.send(text);
  }

  /** The `subscribed` reply: every stream kind, workflow and completion the connection now follows. */
  acknowledge(): void {
    this.send({
      type: 'subscribed',
      streams: [...this.streams],
      workflows: [...this.workflows.keys()],
      completions: [...this.followed.keys()],
    });
  }

  /** Waits until the peer's buffer is back under budget (on its drain); false when the connection closed. */
  async writable(): Promise<boolean> {
    while (!this.closed && this.overBudget) await this.connection.whenWritable();
    return !this.closed;
  }
}
