import type { StreamEvent } from '../../contract/stream-event';
import type { CompletionLog } from './completion-log';

/**
 * A follower of one completion: its events in order (from the first after `after`) to the terminal one, on any
 * protocol. `seq` is the sequence number of the event last yielded (an SSE `id:`, a resume point). Iterate once;
 * `close()` leaves at once, even while waiting for an event.
 */
export interface CompletionFollow extends AsyncIterable<StreamEvent> {
  readonly completionId: string;
  /** Unix seconds, the same on every chunk. */
  readonly created: number;
  /** The public model id that serves it, and its provider (the first planned until the stream committed). */
  readonly model: string;
  readonly provider: string;
  readonly seq: number;
  close(): void;
}

export interface StreamIdentity {
  readonly completionId: string;
  readonly created: number;
  readonly model: string;
  readonly provider: string;
}

const DONE: IteratorResult<StreamEvent> = { done: true, value: undefined };

/** A follower on the node that runs the completion: a cursor into its in-memory log (no Redis in between). */
export class LocalFollower implements CompletionFollow, AsyncIterator<StreamEvent> {
  seq: number;
  closed = false;
  /** Called (once) when it next takes an event: the hub's pump waits on its starter this way. */
  onTake?: () => void;

  constructor(
    private readonly identity: StreamIdentity,
    private readonly log: CompletionLog,
    after: number,
    private readonly accept: ((event: StreamEvent) => boolean) | undefined,
    /** Called once when the follower leaves (closed, returned, or at the end). */
    private readonly onLeave: (follower: LocalFollower) => void,
    /** Called at the first read (a completion starts lazily, when its first follower reads). */
    private onFirstRead?: () => void,
  ) {
    this.seq = after;
    log.cursors.add(this);
  }

  get completionId(): string {
    return this.identity.completionId;
  }
  get created(): number {
    return this.identity.created;
  }
  get model(): string {
    return this.identity.model;
  }
  get provider(): string {
    return this.identity.provider;
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    return this;
  }

  next(): Promise<IteratorResult<StreamEvent>> {
    if (this.onFirstRead) {
      const start = this.onFirstRead;
      this.onFirstRead = undefined;
      start();
    }
    const ready = this.take();
    if (ready) return Promise.resolve(ready);
    return this.wait();
  }

  return(): Promise<IteratorResult<StreamEvent>> {
    this.close();
    return Promise.resolve(DONE);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.log.cursors.delete(this);
    this.onLeave(this);
    this.log.wake();
    this.taken();
  }

  private async wait(): Promise<IteratorResult<StreamEvent>> {
    for (;;) {
      await this.log.after(this.seq);
      const ready = this.take();
      if (ready) return ready;
    }
  }

  private taken(): void {
    const onTake = this.onTake;
    this.onTake = undefined;
    onTake?.();
  }

  /** The next event (or the end) when there is one now; undefined when it must wait. */
  private take(): IteratorResult<StreamEvent> | undefined {
    if (this.closed) return DONE;
    const log = this.log;
    while (this.seq < log.head) {
      const event = log.at(++this.seq)!;
      if (this.onTake) this.taken();
      if (this.accept === undefined || this.accept(event)) return { done: false, value: event };
    }
    if (this.log.done) {
      this.close();
      return DONE;
    }
    return undefined;
  }
}

/**
 * A follower on another node, fed from the completion's Redis Stream by the node's reader: history first, then
 * live. Its queue is bounded: while it holds `highWater` events the reader leaves it out (so a slow client
 * slows its own reads, nothing else).
 */
export class RemoteFollower implements CompletionFollow, AsyncIterator<StreamEvent> {
  seq: number;
  model: string;
  provider: string;
  private readonly queue: Array<{ seq: number; event: StreamEvent }> = [];
  private waiting?: () => void;
  private closed = false;
  private ended = false;

  constructor(
    readonly completionId: string,
    readonly created: number,
    served: { model: string; provider: string },
    after: number,
    private readonly accept: ((event: StreamEvent) => boolean) | undefined,
    private readonly highWater: number,
    private readonly onLeave: (follower: RemoteFollower) => void,
    /** The reader may take more for it again (its queue drained below the high-water mark). */
    private readonly onDrained: () => void,
  ) {
    this.seq = after;
    this.lastRead = after;
    this.model = served.model;
    this.provider = served.provider;
  }

  /** The sequence number of the newest event handed to it (what the reader asks after). */
  lastRead: number;

  get full(): boolean {
    return this.queue.length >= this.highWater;
  }

  get finished(): boolean {
    return this.ended || this.closed;
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    return this;
  }

  /** The reader's delivery: an event and its number (terminal ones end it). */
  push(seq: number, event: StreamEvent, terminal: boolean): void {
    if (this.finished || seq <= this.lastRead) return;
    this.lastRead = seq;
    if (terminal) this.ended = true;
    if (this.accept === undefined || this.accept(event) || terminal) this.queue.push({ seq, event });
    this.wakeUp();
  }

  /** Ends it with an error event of its own (Redis lost, the owner lost). */
  fail(event: StreamEvent): void {
    if (this.finished) return;
    this.ended = true;
    this.queue.push({ seq: this.lastRead + 1, event });
    this.wakeUp();
  }

  async next(): Promise<IteratorResult<StreamEvent>> {
    for (;;) {
      if (this.closed) return DONE;
      const item = this.queue.shift();
      if (item) {
        this.seq = item.seq;
        if (this.queue.length === this.highWater - 1) this.onDrained();
        return { done: false, value: item.event };
      }
      if (this.ended) {
        this.close();
        return DONE;
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  return(): Promise<IteratorResult<StreamEvent>> {
    this.close();
    return Promise.resolve(DONE);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.onLeave(this);
    this.wakeUp();
  }

  private wakeUp(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }
}
