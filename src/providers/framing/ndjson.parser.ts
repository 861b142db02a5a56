import { DEFAULT_MAX_FRAME_SIZE, FrameLimitError, PendingLine } from './frame-limit';

/**
 * An incremental NDJSON (newline-delimited JSON) line splitter, fed raw bytes as they arrive. Lines end in LF
 * (a CR before it is dropped); blank lines are skipped; UTF-8 characters split across chunks stay intact. A last
 * line without a newline is still a line: `end()` delivers it. Parsing the JSON is the caller's job, so a
 * malformed line can be reported with its vendor's context. A line longer than `maxFrameSize` characters
 * (its CR not counted) throws a FrameLimitError; each byte is copied once.
 */
export class NdjsonParser {
  private readonly decoder = new TextDecoder('utf-8');
  /** The unterminated line so far (it holds no LF). */
  private readonly pending: PendingLine;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE,
  ) {
    // One more than the limit: room for the CR of a CRLF line end, which is not part of the line.
    this.pending = new PendingLine(maxFrameSize + 1, 'a stream line');
  }

  feed(chunk: Uint8Array | string): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    let from = 0;
    let newline = text.indexOf('\n');
    while (newline !== -1) {
      this.emit(this.pending.take(text.slice(from, newline)));
      from = newline + 1;
      newline = text.indexOf('\n', from);
    }
    if (from < text.length) this.pending.push(from === 0 ? text : text.slice(from));
  }

  /** End of stream: a final unterminated line is delivered. */
  end(): void {
    this.emit(this.pending.take(this.decoder.decode()));
  }

  private emit(raw: string): void {
    const line = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    if (line.length > this.maxFrameSize) throw new FrameLimitError(this.maxFrameSize, 'a stream line');
    if (line.trim() !== '') this.onLine(line);
  }
}
