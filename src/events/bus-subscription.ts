/** One event on the bus: its place in its topic (`seq`, from 1; 0 on topics without replay) and time. */
export interface BusEnvelope<T> {
  seq: number;
  /** Epoch ms when it was published. */
  at: number;
  event: T;
  /** The topic's last event: subscriptions end after it. */
  last?: true;
}

export interface BusSubscriptionOptions<T> {
  /** Only events it accepts are delivered (a subscriber's predicate on a live-only topic). */
  accept?: (event: T) => boolean;
  /** Envelopes queued for a reader that does not keep up; past it the subscription fails with `overflow()`. */
  maxQueued: number;
  overflow: () => Error;
  /** Reads the topic's kept history after a `seq` (replaying subscriptions only; it may return more). */
  history?: (after: number) => Promise<Array<BusEnvelope<T>>>;
  /** Resume after this `seq`: the events up to it were seen already (a reconnecting subscriber). */
  after?: number;
  /** Called once when the subscription ends, whatever the way. */
  onClose: () => void;
}

/**
 * A subscriber's side of a topic, as an async iterator (what GraphQL subscriptions consume).
 *
 * Replay without loss or duplicates: the subscription listens before it reads the history, holds live events
 * while it does, then emits the history and the held events in `seq` order, each once. A live event that skips
 * a `seq` (pub/sub dropped it during a reconnect) makes it read the history again to fill the gap.
 *
 * Written by hand rather than as an async generator: `return()` must end it at once, even while a `next()`
 * waits for an event that may never come (a client completing or disconnecting).
 */
export class BusSubscription<T> implements AsyncIterableIterator<BusEnvelope<T>> {
  private readonly queue: Array<BusEnvelope<T>> = [];
  private waiting?: { resolve: (r: IteratorResult<BusEnvelope<T>>) => void; reject: (e: unknown) => void };
  /** Live events held while the history is read. */
  private held: Array<BusEnvelope<T>> | undefined;
  private lastSeq = 0;
  private ended = false;
  private failure: Error | undefined;
  private closed = false;
  private readonly closeListeners: Array<() => void> = [];
  private syncing: Promise<void> | undefined;

  constructor(private readonly options: BusSubscriptionOptions<T>) {
    this.lastSeq = options.after ?? 0;
    // A replaying subscription holds live events until start() has read the history.
    if (options.history) this.held = [];
  }

  /** Runs `listener` when the subscription ends (at once if it has). */
  whenClosed(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Reads the history (when the topic keeps one) and starts delivering; call once, after listening. */
  async start(): Promise<void> {
    if (this.options.history) await this.resync();
  }

  /** A live event from the bus. */
  push(envelope: BusEnvelope<T>): void {
    if (this.closed || this.ended) return;
    if (this.held) {
      this.held.push(envelope);
      return;
    }
    if (envelope.seq !== 0) {
      if (envelope.seq <= this.lastSeq) {
        // Seen already; if it was the topic's last (a resume point past the end), nothing more will come.
        if (envelope.last) {
          this.ended = true;
          this.wake();
        }
        return;
      }
      if (this.options.history && envelope.seq > this.lastSeq + 1) {
        this.held = [envelope];
        void this.fill();
        return;
      }
    }
    this.deliver(envelope);
  }

  /** The bus connection came back: events may have been lost meanwhile, so read the history again. */
  recover(): void {
    if (!this.options.history || this.closed || this.ended || this.held) return;
    this.held = [];
    void this.fill();
  }

  /** Ends the subscription with an error for its reader (timeout, lost bus). */
  fail(error: Error): void {
    if (this.closed || this.ended) return;
    this.failure = error;
    this.ended = true;
    this.queue.length = 0;
    this.wake();
  }

  next(): Promise<IteratorResult<BusEnvelope<T>>> {
    const envelope = this.queue.shift();
    if (envelope) {
      if (envelope.last) this.finish();
      return Promise.resolve({ value: envelope, done: false });
    }
    if (this.ended) {
      this.close();
      if (this.failure !== undefined) {
        const failure = this.failure;
        this.failure = undefined;
        return Promise.reject(failure);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<BusEnvelope<T>>> {
    this.ended = true;
    this.failure = undefined;
    this.queue.length = 0;
    this.wake();
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<BusEnvelope<T>>> {
    void this.return();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Events waiting for the reader. */
  get queued(): number {
    return this.queue.length;
  }

  private async fill(): Promise<void> {
    try {
      await this.resync();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error('The event history could not be read.'));
    }
  }

  /** Emits the history and the held live events in order, each once; one read at a time. */
  private resync(): Promise<void> {
    this.syncing ??= this.readHistory().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async readHistory(): Promise<void> {
    this.held ??= [];
    const history = await this.options.history!(this.lastSeq);
    const held = this.held;
    this.held = undefined;
    const merged = history.concat(held).sort((a, b) => a.seq - b.seq);
    for (const envelope of merged) {
      if (this.ended) return;
      if (envelope.seq > this.lastSeq) this.deliver(envelope);
      else if (envelope.last) {
        // The topic ended at or before `after`: nothing more will come.
        this.ended = true;
        this.wake();
        return;
      }
    }
  }

  private deliver(envelope: BusEnvelope<T>): void {
    if (envelope.seq !== 0) this.lastSeq = envelope.seq;
    if (this.options.accept && !this.options.accept(envelope.event)) {
      if (envelope.last) {
        this.ended = true;
        this.wake();
      }
      return;
    }
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      if (envelope.last) this.finish();
      resolve({ value: envelope, done: false });
      return;
    }
    if (this.queue.length >= this.options.maxQueued) {
      this.fail(this.options.overflow());
      return;
    }
    this.queue.push(envelope);
    if (envelope.last) this.ended = true;
  }

  /** The last event was handed out: nothing more will come. */
  private finish(): void {
    this.ended = true;
    this.close();
  }

  private wake(): void {
    if (!this.waiting || this.queue.length > 0) return;
    const { resolve, reject } = this.waiting;
    this.waiting = undefined;
    this.close();
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      reject(failure);
    } else {
      resolve({ value: undefined, done: true });
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.options.onClose();
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
