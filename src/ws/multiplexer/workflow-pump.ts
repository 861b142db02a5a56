import type { Principal } from '../../contract/principal';
import type { WorkflowEvents, WorkflowFeed } from '../../workflow/workflow-feed';
import { MuxErrorCode, MuxMessageError, toWorkflowMessage } from '../mux-messages';
import { errorMessage, streamOverflow } from '../ws-errors';
import type { ConnectionState, FollowedStream } from './connection-state';

/** Workflows one connection may follow at once. */
const MAX_WORKFLOW_SUBSCRIPTIONS = 100;

/** A live stream of `subscribe`: where its connection keeps it and how it opens. */
interface LiveStream {
  readonly kind: 'agent_status' | 'workflow';
  get(state: ConnectionState): FollowedStream | undefined;
  set(state: ConnectionState, entry: FollowedStream | undefined): void;
  open(this: void, feed: WorkflowFeed, viewer: Principal | undefined): Promise<WorkflowEvents>;
}

const LIVE: Record<LiveStream['kind'], LiveStream> = {
  agent_status: {
    kind: 'agent_status',
    get: (state) => state.agentStatus,
    set: (state, entry) => (state.agentStatus = entry),
    open: (feed, viewer) => feed.agentStatus(streamOverflow, viewer),
  },
  workflow: {
    kind: 'workflow',
    get: (state) => state.workflowRuns,
    set: (state, entry) => (state.workflowRuns = entry),
    open: (feed, viewer) => feed.allRuns(streamOverflow, viewer),
  },
};

/** One kind of followed stream: how it opens, where its connection keeps it, and how its messages read. */
interface Follow {
  /** The stream slot it holds (rate limits), unique on the node. */
  readonly slot: string;
  /** The agent_status stream: a failed agent is `agent_error`. */
  readonly agentStatus: boolean;
  /** The id the client follows (its messages' `workflowId` on errors). */
  readonly workflowId?: string;
  /** The field a refused start names. */
  readonly param: 'workflowId' | 'streams';
  open(feed: WorkflowFeed, viewer: Principal | undefined): Promise<WorkflowEvents>;
  /** Whether the connection still keeps `entry` (it was not unfollowed meanwhile). */
  holds(state: ConnectionState, entry: FollowedStream): boolean;
  /** Forgets `entry` (it ended or was refused), if the connection still keeps it. */
  forget(state: ConnectionState, entry: FollowedStream): void;
  /** Once it has started (events come after this). */
  started(state: ConnectionState): void;
  /** After a refused start, once `forget` has run. */
  refused(state: ConnectionState): void;
}

/**
 * The workflow events of a connection, one implementation for every kind of followed stream: a followed run or
 * definition (`subscribe_workflow`, history first), and the live streams of `subscribe`: `agent_status` and
 * `workflow` (every run's events, `sequence` 0: a run is resumed with `subscribe_workflow`). Each counts a
 * request and holds a stream slot while it runs, is forwarded paced by the send budget like a completion, and
 * ends (its slot freed, its registration dropped) when it ends, fails or is unfollowed.
 */
export class WorkflowPump {
  constructor(private readonly feed: WorkflowFeed | undefined) {}

  /**
   * Follows a workflow run (history first) or definition: acknowledged once the follow has started, so the
   * events come after the `subscribed`; an unknown id gets an `error` naming it.
   */
  follow(state: ConnectionState, workflowId: string, after: number | undefined): void {
    if (!this.feed)
      throw new MuxMessageError(MuxErrorCode.UnknownType, 'Workflows are not available here.', 'type');
    if (state.workflows.has(workflowId)) return state.acknowledge();
    if (state.workflows.size >= MAX_WORKFLOW_SUBSCRIPTIONS) {
      throw new MuxMessageError(
        MuxErrorCode.TooManySubscriptions,
        `At most ${MAX_WORKFLOW_SUBSCRIPTIONS} workflows may be followed at once on one connection.`,
        'workflowId',
      );
    }
    const entry: FollowedStream = {};
    state.workflows.set(workflowId, entry);
    this.start(state, entry, {
      slot: `${state.id}:workflow:${workflowId}`,
      agentStatus: false,
      workflowId,
      param: 'workflowId',
      open: (feed, viewer) =>
        feed.follow(workflowId, {
          ...(after === undefined ? {} : { after }),
          overflow: streamOverflow,
          ...(viewer ? { viewer } : {}),
        }),
      holds: (s, e) => s.workflows.get(workflowId) === e,
      forget: (s, e) => {
        if (s.workflows.get(workflowId) === e) s.workflows.delete(workflowId);
      },
      started: (s) => s.acknowledge(),
      refused: () => undefined,
    });
  }

  unfollow(state: ConnectionState, workflowId: string): void {
    const entry = state.workflows.get(workflowId);
    if (!entry) return;
    state.workflows.delete(workflowId);
    stop(entry);
  }

  /** Starts the agent_status stream of a connection subscribed to it (once; nothing without workflows). */
  startAgentStatus(state: ConnectionState): void {
    this.startLive(state, LIVE.agent_status);
  }

  stopAgentStatus(state: ConnectionState): void {
    this.stopLive(state, LIVE.agent_status);
  }

  /** Starts the `workflow` stream (every run's events, live) of a connection subscribed to it. */
  startWorkflowRuns(state: ConnectionState): void {
    this.startLive(state, LIVE.workflow);
  }

  stopWorkflowRuns(state: ConnectionState): void {
    this.stopLive(state, LIVE.workflow);
  }

  /** Starts one of the live streams `subscribe` names (once; nothing without workflows). */
  private startLive(state: ConnectionState, live: LiveStream): void {
    if (live.get(state) || !this.feed) return;
    const entry: FollowedStream = {};
    live.set(state, entry);
    this.start(state, entry, {
      slot: `${state.id}:${live.kind}`,
      agentStatus: live.kind === 'agent_status',
      param: 'streams',
      open: live.open,
      holds: (s, e) => live.get(s) === e,
      forget: (s, e) => {
        if (live.get(s) !== e) return;
        live.set(s, undefined);
        s.streams.delete(live.kind);
      },
      started: () => undefined,
      // A refused stream is no longer subscribed, whatever else happened meanwhile.
      refused: (s) => s.streams.delete(live.kind),
    });
  }

  private stopLive(state: ConnectionState, live: LiveStream): void {
    const entry = live.get(state);
    if (entry) stop(entry);
    live.set(state, undefined);
  }

  /** Opens `follow` for the connection (registered as `entry`), then pumps it. */
  private start(state: ConnectionState, entry: FollowedStream, follow: Follow): void {
    const feed = this.feed;
    if (!feed) return;
    const session = state.session;
    const open = async (): Promise<WorkflowEvents> => {
      await session?.hit();
      entry.release = await session?.acquireStream(follow.slot);
      return follow.open(feed, session?.principal);
    };
    open().then(
      (events) => {
        if (state.closed || !follow.holds(state, entry)) {
          entry.release?.();
          return void events.return();
        }
        entry.events = events;
        follow.started(state);
        void this.pump(state, entry, follow, events);
      },
      (err: unknown) => {
        entry.release?.();
        follow.forget(state, entry);
        follow.refused(state);
        state.send(errorMessage(err, subjectOf(follow), { param: follow.param }));
      },
    );
  }

  /** Forwards the followed events, pausing while the peer's buffer is over budget. */
  private async pump(
    state: ConnectionState,
    entry: FollowedStream,
    follow: Follow,
    events: WorkflowEvents,
  ): Promise<void> {
    try {
      for await (const envelope of events) {
        if (state.closed) break;
        state.send(toWorkflowMessage(envelope, follow.agentStatus));
        if (state.overBudget && !(await state.writable())) break;
      }
    } catch (err) {
      state.send(errorMessage(err, subjectOf(follow)));
    } finally {
      entry.release?.();
      void events.return();
      follow.forget(state, entry);
    }
  }
}

function stop(entry: FollowedStream): void {
  entry.release?.();
  void entry.events?.return();
}

function subjectOf(follow: Follow): { workflowId?: string } {
  return follow.workflowId === undefined ? {} : { workflowId: follow.workflowId };
}
