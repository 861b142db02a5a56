import type { StreamEvent } from '../../contract/stream-event';

/**
 * One completion's events in memory, numbered from 1 in order, shared by every follower on its node: a
 * follower is a cursor into it, so a new event costs one array push and a wake-up of the followers that wait,
 * however many there are, and a late follower reads the history from the same array.
 */
export class CompletionLog {
  readonly events: StreamEvent[] = [];
  /** Set once the terminal event is in. */
  done = false;
  private waiting: Array<() => void> = [];

  /** The newest event's sequence number (0 before the first). */
  get head(): number {
    return this.events.length;
  }

  append(event: StreamEvent, terminal: boolean): void {
    this.events.push(event);
    if (terminal) this.done = true;
    this.wake();
  }

  /** Resolves when an event after `seq` is in (or the log is done). */
  after(seq: number): Promise<void> | undefined {
    if (seq < this.events.length || this.done) return undefined;
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
