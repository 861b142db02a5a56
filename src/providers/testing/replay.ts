import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StreamEvent } from '../../contract/stream-event';
import { FrameTranslator } from '../http/frame-translator';
import type { VendorStreamParser } from '../http/vendor-codec';
import { ProviderError } from '../provider.error';
import { byteSplits } from './byte-splits';

export type Framing = 'sse' | 'ndjson';

/** What a vendor parser made of a byte stream: its events, and the error it ended with, if any. */
export interface Replayed {
  events: StreamEvent[];
  error?: unknown;
}

/**
 * Feeds chunks through the FrameTranslator that HttpProviderAdapter uses (framing, then the vendor parser frame
 * by frame), collecting the events and the error the stream ended with.
 */
export function replay(framing: Framing, parser: VendorStreamParser, chunks: Iterable<Uint8Array>): Replayed {
  const events: StreamEvent[] = [];
  const translator = new FrameTranslator(framing, parser);
  try {
    for (const chunk of chunks) {
      for (const event of translator.feed(chunk)) events.push(event);
      if (translator.finished) break;
    }
    for (const event of translator.end()) events.push(event);
  } catch (error) {
    return { events, error };
  }
  return { events };
}

/**
 * A ProviderError as the specs compare it: its kind, retry fields, the HTTP status and vendor error type when
 * it has them, and its message.
 */
export interface ErrorSummary {
  code: string;
  retryable: boolean;
  retryAfterMs?: number;
  status?: number;
  vendorType?: string;
  message: string;
}

/** A replay with its error summarized (see ErrorSummary). */
export interface Outcome {
  events: StreamEvent[];
  error?: ErrorSummary;
}

/** Summarizes a ProviderError; anything else is rethrown (a parser must only ever throw ProviderErrors). */
export function summarizeError(error: unknown): ErrorSummary {
  if (!(error instanceof ProviderError)) throw error;
  return {
    code: error.code,
    retryable: error.retryable,
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    ...(error.status === undefined ? {} : { status: error.status }),
    ...(error.vendorType === undefined ? {} : { vendorType: error.vendorType }),
    message: error.message,
  };
}

/** `replay`, with the error it ended with summarized. */
export function replayOutcome(
  framing: Framing,
  parser: VendorStreamParser,
  chunks: Iterable<Uint8Array>,
): Outcome {
  const { events, error } = replay(framing, parser, chunks);
  return error === undefined ? { events } : { events, error: summarizeError(error) };
}

/**
 * Replays `input` whole and at every byte split (see byteSplits); every way must give `expected`: the same
 * events, and the same error by its ErrorSummary (message included; asymmetric matchers may stand in it).
 */
export function expectOutcomeAtEverySplit(
  framing: Framing,
  newParser: () => VendorStreamParser,
  input: string | Uint8Array,
  expected: Outcome,
): void {
  expectAtEverySplit(input, (chunks) => replayOutcome(framing, newParser(), chunks), expected);
}

/**
 * Replays `input` whole and at every byte split (see byteSplits); every way must give `expected`, errors
 * compared by class, code and retry fields only (messages are checked separately where they matter).
 */
export function expectSameAtEverySplit(
  framing: Framing,
  newParser: () => VendorStreamParser,
  input: string | Uint8Array,
  expected: Replayed,
): void {
  const play = (chunks: Uint8Array[]) => summarize(replay(framing, newParser(), chunks));
  expectAtEverySplit(input, play, summarize(expected));
}

function expectAtEverySplit<T extends object>(
  input: string | Uint8Array,
  play: (chunks: Uint8Array[]) => T,
  expected: T,
): void {
  for (const { at, chunks } of byteSplits(input)) {
    expect({ at, ...play(chunks) }).toEqual({ at, ...expected });
  }
}

function summarize(result: Replayed): { events: StreamEvent[]; error?: unknown } {
  if (result.error === undefined) return { events: result.events };
  const err = result.error as { name?: string; code?: string; retryable?: boolean; retryAfterMs?: number };
  return {
    events: result.events,
    error: { name: err.name, code: err.code, retryable: err.retryable, retryAfterMs: err.retryAfterMs },
  };
}

/** Reads the recorded-shape fixtures in `<dir>/__fixtures__` (pass an adapter spec's `__dirname`). */
export function fixtureReader(dir: string): (name: string) => Buffer {
  return (name) => readFileSync(join(dir, '__fixtures__', name));
}
