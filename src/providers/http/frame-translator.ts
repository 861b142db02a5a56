import type { StreamEvent } from '../../contract/stream-event';
import { NdjsonParser } from '../framing/ndjson.parser';
import { SseParser } from '../framing/sse.parser';
import type { VendorStreamParser } from './vendor-codec';

/**
 * Bytes of a vendor stream -> StreamEvents: the framing (SSE or NDJSON) splits frames out, then each frame is
 * translated by the vendor parser and its events are yielded before the next frame is parsed, so a first token
 * never waits for the rest of a burst. A failing frame (an error frame, malformed data) throws after the events
 * of the frames before it; nothing after the vendor's end marker is read. The adapters and the parser specs
 * both run streams through this one class.
 */
export class FrameTranslator {
  /** Frames split out but not yet translated, as flat (event name, data) pairs. */
  private readonly pending: string[] = [];
  private readonly out: StreamEvent[] = [];
  private readonly framer: SseParser | NdjsonParser;

  constructor(
    framing: 'sse' | 'ndjson',
    private readonly parser: VendorStreamParser,
    /** The longest line or frame accepted, in characters; past it `feed` throws a FrameLimitError. */
    maxFrameSize?: number,
  ) {
    const pending = this.pending;
    this.framer =
      framing === 'sse'
        ? new SseParser({ onEvent: (e) => pending.push(e.event, e.data) }, maxFrameSize)
        : new NdjsonParser((line) => pending.push('message', line), maxFrameSize);
  }

  /** The vendor's end marker has been seen. */
  get finished(): boolean {
    return this.parser.finished;
  }

  /** The events of one network chunk. */
  *feed(chunk: Uint8Array): Generator<StreamEvent> {
    this.framer.feed(chunk);
    if (this.pending.length > 0) yield* this.translate();
  }

  /** The body ended: the framing's last frame if any, then the vendor's end (`completed`, or a throw). */
  *end(): Generator<StreamEvent> {
    if (!this.parser.finished) {
      this.framer.end();
      yield* this.translate();
    }
    this.parser.end(this.out);
    yield* this.flush();
  }

  private *translate(): Generator<StreamEvent> {
    const { pending, parser } = this;
    try {
      for (let i = 0; i < pending.length && !parser.finished; i += 2) {
        parser.frame(pending[i]!, pending[i + 1]!, this.out);
        yield* this.flush();
      }
    } finally {
      pending.length = 0;
    }
  }

  private *flush(): Generator<StreamEvent> {
    const { out } = this;
    for (let i = 0; i < out.length; i++) yield out[i]!;
    out.length = 0;
  }
}
