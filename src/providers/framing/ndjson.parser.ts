/**
 * An incremental NDJSON (newline-delimited JSON) line splitter, fed raw bytes as they arrive. Lines end in LF
 * (a CR before it is dropped); blank lines are skipped; UTF-8 characters split across chunks stay intact. A last
 * line without a newline is still a line: `end()` delivers it. Parsing the JSON is the caller's job, so a
 * malformed line can be reported with its vendor's context.
 */
export class NdjsonParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';

  constructor(private readonly onLine: (line: string) => void) {}

  feed(chunk: Uint8Array | string): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    // The buffer never holds a LF, so scanning starts in the new text.
    let from: number;
    let newline = text.indexOf('\n');
    if (newline === -1) {
      this.buffer += text;
      return;
    }
    let line = this.buffer + text.slice(0, newline);
    this.buffer = '';
    for (;;) {
      this.emit(line);
      from = newline + 1;
      newline = text.indexOf('\n', from);
      if (newline === -1) break;
      line = text.slice(from, newline);
    }
    this.buffer = text.slice(from);
  }

  /** End of stream: a final unterminated line is delivered. */
  end(): void {
    const rest = this.buffer + this.decoder.decode();
    this.buffer = '';
    this.emit(rest);
  }

  private emit(raw: string): void {
    const line = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') this.onLine(line);
  }
}
