import type { StreamEvent, TerminalEvent } from '../contract/stream-event';
import type { CompletionFollow } from '../streaming/hub/followers';
import type { GatedSubscription } from './subscription-gate';

/** A completion's event as GraphQL shows it: the terminal one names who served it (after any failover). */
export type ServedEvent = StreamEvent | (TerminalEvent & { model: string; provider: string });

/** What `completionStream` hands the event mapper per event: its sequence number, when it left, the event. */
export interface CompletionEnvelope {
  /** The hub's sequence number (from 1): the client's `afterSequence` to resume after it. */
  seq: number;
  /** Epoch ms when this node delivered it. */
  at: number;
  event: ServedEvent;
}

const DONE: IteratorResult<CompletionEnvelope> = { done: true, value: undefined };

/**
 * A stream hub follower as a GraphQL subscription source: the async iterator graphql-ws consumes, and what the
 * SubscriptionGate needs to bound it (`fail`, `whenClosed`). It adds no queue and no Redis: each `next()` is
 * the follower's own (from memory on the node that runs the completion), mapped to an envelope as it resolves.
 * graphql-js asks for the next event only once the previous one was sent, so the follower's `seq` at that
 * moment is this event's.
 *
 * `fail()` ends it with an error for its reader even while a `next()` waits (the follower is closed, which
 * releases that wait); `return()` (the client's complete, a disconnect) closes the follower at once.
 */
export class CompletionSubscription implements AsyncIterableIterator<CompletionEnvelope>, GatedSubscription {
  private failure: Error | undefined;
  private closed = false;
  private readonly closeListeners: Array<() => void> = [];
  private readonly events: AsyncIterator<StreamEvent>;

  constructor(private readonly follow: CompletionFollow) {
    this.events = follow[Symbol.asyncIterator]();
  }

  next(): Promise<IteratorResult<CompletionEnvelope>> {
    if (this.closed) return Promise.resolve(DONE);
    if (this.failure) return this.rejectWithFailure();
    return this.events.next().then(
      (result) => {
        if (this.failure) return this.rejectWithFailure();
        if (result.done) {
          this.close();
          return DONE;
        }
        return { done: false, value: this.envelope(result.value) };
      },
      (err: unknown) => {
        this.close();
        throw err;
      },
    );
  }

  return(): Promise<IteratorResult<CompletionEnvelope>> {
    this.failure = undefined;
    this.close();
    return Promise.resolve(DONE);
  }

  throw(error: unknown): Promise<IteratorResult<CompletionEnvelope>> {
    void this.return();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends it with `error` for its reader (the gate's timeout, shutdown). */
  fail(error: Error): void {
    if (this.closed || this.failure) return;
    this.failure = error;
    // Releases a next() waiting for an event: it resolves done, and rejects with the failure above.
    this.follow.close();
  }

  /** Runs `listener` once it has ended, whatever the way (at once if it has). */
  whenClosed(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  private envelope(event: StreamEvent): CompletionEnvelope {
    const follow = this.follow;
    // Model and provider as the follower knows them now: the ones that served, by the terminal event.
    const served: ServedEvent =
      event.type === 'completed' || event.type === 'error'
        ? { ...event, model: follow.model, provider: follow.provider }
        : event;
    return { seq: follow.seq, at: Date.now(), event: served };
  }

  private rejectWithFailure(): Promise<never> {
    const failure = this.failure!;
    this.failure = undefined;
    this.close();
    return Promise.reject(failure);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.follow.close();
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
