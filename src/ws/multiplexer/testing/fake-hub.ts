import { AuthError } from '../../../auth/auth.error';
import { owns } from '../../../contract/principal';
import type { StreamEvent } from '../../../contract/stream-event';
import type { CompletionFollow } from '../../../streaming/hub/followers';
import {
  type FollowOptions,
  notFound,
  type StartedCompletion,
} from '../../../streaming/hub/stream-hub.service';
import type { CompletionHub } from '../completion-pump';

/** A follower the test can inspect: whether it was closed. */
export type TestFollow = CompletionFollow & { closed: boolean };

const DONE: IteratorResult<StreamEvent> = { done: true, value: undefined };

/**
 * A CompletionFollow over `events` (a list, or a generator that decides when each comes), numbered from
 * `after` + 1 as the hub numbers them; it ends at its last event or when closed (even while waiting for one).
 */
export function followOf(
  completionId: string,
  events: Iterable<StreamEvent> | AsyncIterable<StreamEvent>,
  after = 0,
  served: { model: string; provider: string } = { model: 'simulated/echo', provider: 'simulated' },
): TestFollow {
  let wake!: () => void;
  const closing = new Promise<IteratorResult<StreamEvent>>((resolve) => (wake = () => resolve(DONE)));
  const follow: TestFollow = {
    completionId,
    created: 0,
    ...served,
    seq: after,
    closed: false,
    close: () => {
      follow.closed = true;
      wake();
    },
    async *[Symbol.asyncIterator]() {
      const source =
        Symbol.asyncIterator in events ? events[Symbol.asyncIterator]() : events[Symbol.iterator]();
      for (;;) {
        const next = await Promise.race([source.next(), closing]);
        if (next.done || follow.closed) return;
        (follow as { seq: number }).seq++;
        yield next.value;
      }
    },
  };
  return follow;
}

/** `events`, then nothing more until the follower leaves (a completion still running). */
async function* running(events: StreamEvent[]): AsyncGenerator<StreamEvent> {
  yield* events;
  await new Promise(() => undefined);
}

/** A completion the fake hub can be asked to follow. */
export interface HubEntry {
  events: StreamEvent[];
  owner?: string;
  /** Still running: its followers wait after `events` until they leave. */
  running?: boolean;
}

/**
 * The stream hub as the WebSocket pumps use it, in memory: completions to follow by id (ownership checked as
 * the hub does), starts announced by hand, and cancels recorded.
 */
export class FakeHub implements CompletionHub {
  readonly node = 'node-a';
  readonly completions = new Map<string, HubEntry>();
  readonly cancelled: string[] = [];
  readonly follows: Array<{ completionId: string; options: FollowOptions; follow: TestFollow }> = [];
  /** Called on each cancel (a test ends its completion's stream with it). */
  onCancel?: (completionId: string) => void;
  private readonly listeners = new Set<(entry: StartedCompletion) => void>();

  follow(completionId: string, options: FollowOptions = {}): Promise<CompletionFollow> {
    const entry = this.completions.get(completionId);
    if (!entry) return Promise.reject(notFound(completionId));
    if (options.viewer && !owns(options.viewer, entry.owner))
      return Promise.reject(AuthError.forbidden('This completion belongs to another user.'));
    const after = options.after ?? 0;
    const events = entry.events.slice(after);
    const follow = followOf(completionId, entry.running ? running(events) : events, after);
    this.follows.push({ completionId, options, follow });
    return Promise.resolve(follow);
  }

  cancel(completionId: string): Promise<boolean> {
    this.cancelled.push(completionId);
    this.onCancel?.(completionId);
    return Promise.resolve(true);
  }

  onStart(listener: (entry: StartedCompletion) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every start listener of a completion (registered to be followed as `completion`). */
  announce(completionId: string, completion: HubEntry, node = this.node): void {
    this.completions.set(completionId, completion);
    const { owner } = completion;
    const entry: StartedCompletion = {
      completionId,
      node,
      protocol: 'sse',
      model: 'simulated/echo',
      provider: 'simulated',
      createdAt: new Date(0).toISOString(),
      ...(owner === undefined ? {} : { owner }),
    };
    for (const listener of this.listeners) listener(entry);
  }

  /** Start listeners registered now. */
  get listening(): number {
    return this.listeners.size;
  }
}
