import type { ContentChunkEvent, StreamEvent, ThinkingEvent } from '../contract/stream-event';

export interface CoalescerOptions {
  /** Upper bound (UTF-16 code units) of text merged into one event. */
  maxChars: number;
  /** Longest a delta may wait for a neighbour to merge with. */
  maxWaitMs: number;
}

type TextEvent = ContentChunkEvent | ThinkingEvent;
const TIMEOUT = Symbol('timeout');

/**
 * Merges consecutive content (or thinking) deltas that arrive within `maxWaitMs` of each other into one event,
 * up to `maxChars`, to cut per-frame overhead for providers that send one character at a time. The first delta
 * of a run goes out at once, so time-to-first-token is never delayed; other events pass through in order and
 * flush whatever is held before them.
 */
export async function* coalesceEvents(
  source: AsyncIterable<StreamEvent>,
  { maxChars, maxWaitMs }: CoalescerOptions,
): AsyncGenerator<StreamEvent> {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<StreamEvent>> | undefined;
  let held: TextEvent | undefined;
  let heldText = '';
  let deadline = 0;
  let sentFirstText = false;

  const flush = (): TextEvent => {
    const event = { ...held!, content: heldText };
    held = undefined;
    heldText = '';
    return event;
  };

  try {
    for (;;) {
      const next = pending ?? iterator.next();
      pending = undefined;
      let result: IteratorResult<StreamEvent> | typeof TIMEOUT;
      if (held) {
        result = await raceDeadline(next, deadline - performance.now());
        if (result === TIMEOUT) {
          pending = next;
          yield flush();
          continue;
        }
      } else {
        result = await next;
      }
      if (result.done) break;
      const event = result.value;
      const isText = event.type === 'content_chunk' || event.type === 'thinking';
      if (held && isText && event.type === held.type && heldText.length + event.content.length <= maxChars) {
        heldText += event.content;
        continue;
      }
      if (held) yield flush();
      if (isText && sentFirstText) {
        held = event;
        heldText = event.content;
        deadline = performance.now() + maxWaitMs;
        continue;
      }
      if (isText) sentFirstText = true;
      yield event;
    }
    if (held) yield flush();
  } finally {
    await iterator.return?.();
  }
}

async function raceDeadline<T>(promise: Promise<T>, waitMs: number): Promise<T | typeof TIMEOUT> {
  if (waitMs <= 0) return TIMEOUT;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMEOUT), waitMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
