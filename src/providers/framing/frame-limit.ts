/** Without a limit given: far beyond any real frame, still a bound. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/**
 * A stream line or frame grew past the parser's limit: the upstream is sending something no real answer
 * holds (or is trying to exhaust memory). The adapter turns it into an `invalid_response`.
 */
export class FrameLimitError extends Error {
  constructor(
    readonly limit: number,
    what: string,
  ) {
    super(`${what} is longer than ${limit} characters`);
    this.name = 'FrameLimitError';
  }
}

/** Text of one unterminated line, kept as the pieces it arrived in so that each byte is copied once. */
export class PendingLine {
  private pieces: string[] = [];
  /** Characters held. */
  length = 0;

  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  /** Holds `text`; throws once the line would pass the limit. */
  push(text: string): void {
    this.check(text.length);
    this.pieces.push(text);
    this.length += text.length;
  }

  /** The whole line, ending with `tail` (the part of the newest chunk before its line end); empties it. */
  take(tail: string): string {
    this.check(tail.length);
    if (this.length === 0) return tail;
    this.pieces.push(tail);
    const line = this.pieces.join('');
    this.clear();
    return line;
  }

  clear(): void {
    this.pieces = [];
    this.length = 0;
  }

  private check(more: number): void {
    if (this.length + more > this.limit) throw new FrameLimitError(this.limit, this.what);
  }
}
