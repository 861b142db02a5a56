import type { StreamEvent } from '../../contract/stream-event';

/** Where a follower on the node reads the log: the sequence number of the event it took last. */
export interface LogCursor {
  readonly seq: number;
}

/**
 * One completion's events in memory, numbered from 1 in order, shared by every follower on its node: a
 * follower is a cursor into it, so a new event costs one array push and a wake-up of the followers that wait,
 * however many there are, and a late follower reads the history from the same array.
 *
 * The front can be dropped (`drop`) once Redis has it and every cursor is past it, so a long completion holds
 * its recent events, not all of them; `first` says where what is held starts.
 */
export class CompletionLog {
  private events: StreamEvent[] = [];
  /** Events dropped from the front: `events[0]` is event `dropped + 1`. */
  private dropped = 0;
  /** Set once the terminal event is in. */
  done = false;
  private waiting: Array<() => void> = [];
  private waking = false;
  /** The followers reading it (the front is never dropped past one). */
  readonly cursors = new Set<LogCursor>();

  /** The newest event's sequence number (0 before the first). */
  get head(): number {
    return this.dropped + this.events.length;
  }

  /** The sequence number of the oldest event held (head + 1 when none is). */
  get first(): number {
    return this.dropped + 1;
  }

  /** Event `seq` (from 1); undefined when it was dropped or has not come. */
  at(seq: number): StreamEvent | undefined {
    return this.events[seq - 1 - this.dropped];
  }

  /** The events after `from` up to `to` (sequence numbers), as far as they are held. */
  between(from: number, to: number): StreamEvent[] {
    return this.events.slice(Math.max(0, from - this.dropped), Math.max(0, to - this.dropped));
  }

  append(event: StreamEvent, terminal: boolean): void {
    this.events.push(event);
    if (terminal) this.done = true;
    // Waiting followers wake once the turn's work is done, not per event: a burst (one upstream read) is
    // there whole when they look, and each reads it without waiting again.
    if (this.waiting.length > 0 && !this.waking) {
      this.waking = true;
      process.nextTick(this.wakeSoon);
    }
  }

  private readonly wakeSoon = (): void => {
    this.waking = false;
    this.wake();
  };

  /** Lets the events up to `seq` go (never past a cursor). */
  drop(seq: number): void {
    let upTo = Math.min(seq, this.head);
    for (const cursor of this.cursors) upTo = Math.min(upTo, cursor.seq);
    if (upTo <= this.dropped) return;
    this.events = this.events.slice(upTo - this.dropped);
    this.dropped = upTo;
  }

  /** Resolves when an event after `seq` is in (or the log is done). */
  after(seq: number): Promise<void> | undefined {
    if (seq < this.head || this.done) return undefined;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Wakes every waiting follower (an event arrived, or a follower is told to stop). */
  wake(): void {
    if (this.waiting.length === 0) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}
