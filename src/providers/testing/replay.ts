import type { StreamEvent } from '../../streaming/stream-event';
import { NdjsonParser } from '../framing/ndjson.parser';
import { SseParser } from '../framing/sse.parser';
import type { VendorStreamParser } from '../http/http-provider.adapter';
import { byteSplits } from './byte-splits';

/** What a vendor parser made of a byte stream: its events, and the error it ended with, if any. */
export interface Replayed {
  events: StreamEvent[];
  error?: unknown;
}

/**
 * Feeds chunks through the framing and a vendor parser the way HttpProviderAdapter does: events of frames
 * before a failing frame are kept, nothing after the vendor's end marker is read, `end()` runs at the end.
 */
export function replay(
  framing: 'sse' | 'ndjson',
  parser: VendorStreamParser,
  chunks: Uint8Array[],
): Replayed {
  const events: StreamEvent[] = [];
  let error: unknown;
  const onFrame = (event: string, data: string) => {
    if (error !== undefined || parser.finished) return;
    try {
      parser.frame(event, data, events);
    } catch (err) {
      error = err;
    }
  };
  const framer =
    framing === 'sse'
      ? new SseParser({ onEvent: (e) => onFrame(e.event, e.data) })
      : new NdjsonParser((line) => onFrame('message', line));
  for (const chunk of chunks) {
    framer.feed(chunk);
    if (error !== undefined || parser.finished) break;
  }
  if (error === undefined) {
    if (!parser.finished) framer.end();
    try {
      parser.end(events);
    } catch (err) {
      error = err;
    }
  }
  return error === undefined ? { events } : { events, error };
}

/** Replays `input` whole and at every byte split (see byteSplits); every way must give `expected`. */
export function expectSameAtEverySplit(
  framing: 'sse' | 'ndjson',
  newParser: () => VendorStreamParser,
  input: string | Uint8Array,
  expected: Replayed,
): void {
  for (const { at, chunks } of byteSplits(input)) {
    const got = replay(framing, newParser(), chunks);
    expect({ at, ...summarize(got) }).toEqual({ at, ...summarize(expected) });
  }
}

/** Errors compared by class, code and retry fields (messages are checked separately where they matter). */
function summarize(result: Replayed): { events: StreamEvent[]; error?: unknown } {
  if (result.error === undefined) return { events: result.events };
  const err = result.error as { name?: string; code?: string; retryable?: boolean; retryAfterMs?: number };
  return {
    events: result.events,
    error: { name: err.name, code: err.code, retryable: err.retryable, retryAfterMs: err.retryAfterMs },
  };
}
