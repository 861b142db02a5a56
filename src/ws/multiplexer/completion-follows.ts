import { setTimeout as sleep } from 'node:timers/promises';
import type { AppLogger } from '../../common/logging/logger';
import { DomainError, RequestErrorCode } from '../../contract/error-code';
import { owns } from '../../contract/principal';
import type { CompletionFollow } from '../../streaming/hub/followers';
import type { StartedCompletion } from '../../streaming/hub/stream-hub.service';
import { MuxErrorCode, MuxMessageError } from '../mux-messages';
import { errorMessage } from '../ws-errors';
import { type CompletionHub, forward } from './completion-pump';
import type { CompletionFeed, ConnectionState, FollowedCompletion } from './connection-state';

/** Completions the `completion` stream follows at once on one connection; past it a start is told, not followed. */
const MAX_FEED_FOLLOWERS = 100;

/**
 * How often, and how far apart, a completion another node announced is looked up again while Redis does not
 * have it yet: the announcement (pub/sub) can arrive before the owner's first mirror write (a few ms later).
 */
const ANNOUNCED_RETRIES = 10;
const ANNOUNCED_RETRY_MS = 50;

/**
 * Completions a connection follows without having started them, through the stream hub, so they may run on
 * any node and any protocol: one asked for by id (`subscribe_completion`, history first from `afterSequence`,
 * to its end, counted against `max_completions_per_connection` and holding a stream slot like a completion),
 * and every one its user may see as it starts (the `completion` stream). Their messages carry the server's
 * `completionId` and `seq`, and no client `id`; they are forwarded like the connection's own, paced by the send
 * budget. Following one by id keeps an abandoned completion running (a client come back for it); the
 * `completion` stream does not.
 */
export class CompletionFollows {
  constructor(
    private readonly hub: CompletionHub,
    /** Completions one connection may follow by id at once. */
    private readonly maxFollowed: number,
    private readonly log: AppLogger,
  ) {}

  /**
   * `subscribe_completion`: acknowledged (`subscribed`, naming it in `completions`) once the follow has
   * started, so its events come after; a refusal (not_found, forbidden, service_unavailable, a rate limit)
   * is an `error` naming it, and the connection carries on.
   */
  follow(state: ConnectionState, completionId: string, after: number | undefined): void {
    if (state.followed.has(completionId)) return state.acknowledge();
    if (state.followed.size >= this.maxFollowed) {
      throw new MuxMessageError(
        MuxErrorCode.TooManySubscriptions,
        `At most ${this.maxFollowed} completions may be followed at once on one connection.`,
        'completionId',
      );
    }
    // Asked for by id, it takes over from the completion stream's follower of it (no event twice).
    this.dropFromFeed(state, completionId);
    const entry: FollowedCompletion = {};
    state.followed.set(completionId, entry);
    const session = state.session;
    const open = async (): Promise<CompletionFollow> => {
      await session?.hit();
      entry.release = await session?.acquireStream(`${state.id}:completion:${completionId}`);
      return this.hub.follow(completionId, {
        ...(session ? { viewer: session.principal } : {}),
        ...(after === undefined ? {} : { after }),
      });
    };
    const holds = () => state.followed.get(completionId) === entry;
    open().then(
      (follow) => {
        if (state.closed || !holds()) {
          entry.release?.();
          return follow.close();
        }
        entry.follow = follow;
        state.acknowledge();
        void forward(state, follow, undefined, this.log).finally(() => {
          entry.release?.();
          if (holds()) state.followed.delete(completionId);
        });
      },
      (err: unknown) => {
        entry.release?.();
        if (holds()) state.followed.delete(completionId);
        state.send(errorMessage(err, { completionId }, { param: 'completionId' }));
      },
    );
  }

  /** `unsubscribe_completion`: stops following it (the completion itself runs on). */
  unfollow(state: ConnectionState, completionId: string): void {
    const entry = state.followed.get(completionId);
    if (!entry) return;
    state.followed.delete(completionId);
    entry.release?.();
    entry.follow?.close();
  }

  /** Stops every follow of the connection (it closed). */
  unfollowAll(state: ConnectionState): void {
    for (const completionId of [...state.followed.keys()]) this.unfollow(state, completionId);
    this.stopFeed(state);
  }

  /**
   * Subscribes the connection to the `completion` stream: every completion its user may see, on any node,
   * followed from its first event as it starts (the connection's own come with their `id` instead). Starts
   * are heard at once; the subscription's request and stream slot are taken meanwhile, and a refusal ends it
   * with an `error` (`param` `streams`).
   */
  startFeed(state: ConnectionState): void {
    if (state.completionFeed) return;
    const feed: CompletionFeed = { followers: new Map() };
    state.completionFeed = feed;
    feed.stop = this.hub.onStart((started) => this.started(state, feed, started));
    const session = state.session;
    if (!session) return;
    const admit = async (): Promise<void> => {
      await session.hit();
      feed.release = await session.acquireStream(`${state.id}:completion`);
    };
    admit().then(
      () => {
        if (state.completionFeed !== feed) feed.release?.();
      },
      (err: unknown) => {
        if (state.completionFeed !== feed) return;
        this.stopFeed(state);
        state.streams.delete('completion');
        state.send(errorMessage(err, {}, { param: 'streams' }));
      },
    );
  }

  stopFeed(state: ConnectionState): void {
    const feed = state.completionFeed;
    if (!feed) return;
    state.completionFeed = undefined;
    feed.stop?.();
    feed.release?.();
    for (const followed of feed.followers.values()) followed.follow?.close();
    feed.followers.clear();
  }

  /** A completion started somewhere: followed when the connection's user may see it and nothing else has it. */
  private started(state: ConnectionState, feed: CompletionFeed, started: StartedCompletion): void {
    const { completionId } = started;
    if (state.closed || state.completionFeed !== feed) return;
    const viewer = state.session?.principal;
    if (viewer && !owns(viewer, started.owner)) return;
    if (state.own.has(completionId) || state.followed.has(completionId) || feed.followers.has(completionId))
      return;
    if (feed.followers.size >= MAX_FEED_FOLLOWERS) {
      const refusal = new MuxMessageError(
        MuxErrorCode.TooManySubscriptions,
        `The completion stream follows at most ${MAX_FEED_FOLLOWERS} completions at once; this one is not followed (subscribe_completion follows it).`,
        'streams',
      );
      return state.send(errorMessage(refusal, { completionId }));
    }
    const followed: FollowedCompletion = {};
    feed.followers.set(completionId, followed);
    void this.followStarted(state, feed, followed, started);
  }

  private async followStarted(
    state: ConnectionState,
    feed: CompletionFeed,
    followed: FollowedCompletion,
    started: StartedCompletion,
  ): Promise<void> {
    const { completionId } = started;
    const holds = () => state.completionFeed === feed && feed.followers.get(completionId) === followed;
    try {
      const follow = await this.open(state, started);
      if (state.closed || !holds()) return follow.close();
      followed.follow = follow;
      await forward(state, follow, undefined, this.log);
    } catch (err) {
      if (!state.closed && holds()) state.send(errorMessage(err, { completionId }));
    } finally {
      if (holds()) feed.followers.delete(completionId);
    }
  }

  /** Follows a started completion, not keeping it alive; one announced by another node may not be in Redis yet. */
  private async open(state: ConnectionState, started: StartedCompletion): Promise<CompletionFollow> {
    const viewer = state.session?.principal;
    const options = { ...(viewer ? { viewer } : {}), keepsAlive: false };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.hub.follow(started.completionId, options);
      } catch (err) {
        const early =
          err instanceof DomainError &&
          err.code === RequestErrorCode.NotFound &&
          started.node !== this.hub.node;
        if (!early || attempt >= ANNOUNCED_RETRIES || state.closed) throw err;
        await sleep(ANNOUNCED_RETRY_MS);
      }
    }
  }

  /** Stops the completion stream's follower of `completionId`, if it has one. */
  private dropFromFeed(state: ConnectionState, completionId: string): void {
    const feed = state.completionFeed;
    const followed = feed?.followers.get(completionId);
    if (!feed || !followed) return;
    feed.followers.delete(completionId);
    followed.follow?.close();
  }
}
