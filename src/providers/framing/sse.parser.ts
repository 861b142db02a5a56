/**
 * An incremental Server-Sent Events parser (WHATWG HTML, "event stream interpretation"), fed raw bytes as they
 * arrive. Handles CRLF, LF and lone CR line ends (a CR at the end of one chunk may be half of a CRLF), comments,
 * multi-line data, event names, id and retry, a leading BOM, and UTF-8 characters split across chunks.
 * An event still unterminated at the end of the stream is dropped, as the standard says.
 *
 * Linear time and bounded memory: an unterminated line is kept as the pieces it arrived in (each byte is copied
 * once, when its line ends), only new text is scanned for line ends, and a line or an event's data longer than
 * `maxFrameSize` characters throws a FrameLimitError instead of growing without end.
 */
import { DEFAULT_MAX_FRAME_SIZE, FrameLimitError, PendingLine } from './frame-limit';

export interface SseEvent {
  /** `message` when the stream named none. */
  event: string;
  data: string;
  /** The last event id seen so far (persists across events), or '' when none was set. */
  id: string;
}

export interface SseHandlers {
  onEvent(event: SseEvent): void;
  onComment?(comment: string): void;
  onRetry?(ms: number): void;
}

const LF = 10;
const BOM = 0xfeff;
const STREAM = { stream: true };

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  /** The unterminated line so far (it holds no CR or LF). */
  private readonly pendingLine: PendingLine;
  /** The previous chunk ended in CR: a LF at the start of the next one belongs to it. */
  private pendingCr = false;
  private started = false;
  private data = '';
  private hasData = false;
  private eventType = '';
  private lastEventId = '';

  constructor(
    private readonly handlers: SseHandlers,
    private readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE,
  ) {
    this.pendingLine = new PendingLine(maxFrameSize, 'a stream line');
  }

  feed(chunk: Uint8Array | string): void {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, STREAM);
    if (!this.started && text !== '') {
      this.started = true;
      if (text.charCodeAt(0) === BOM) text = text.slice(1); // TextDecoder strips it from bytes; strings too
    }
    if (this.pendingCr && text !== '') {
      this.pendingCr = false;
      if (text.charCodeAt(0) === LF) text = text.slice(1);
    }
    // Line ends are found with native indexOf scans of the new text only (a CR position is only looked up again
    // once it has been passed); text before the first line end completes the pending line.
    let nextLf = text.indexOf('\n');
    let nextCr = text.indexOf('\r');
    let lineStart = 0;
    while (nextLf !== -1 || nextCr !== -1) {
      const atCr = nextCr !== -1 && (nextLf === -1 || nextCr < nextLf);
      const end = atCr ? nextCr : nextLf;
      this.line(this.pendingLine.take(text.slice(lineStart, end)));
      lineStart = end + 1;
      if (atCr) {
        if (lineStart === text.length) this.pendingCr = true;
        else if (text.charCodeAt(lineStart) === LF) lineStart++;
      }
      if (nextLf !== -1 && nextLf < lineStart) nextLf = text.indexOf('\n', lineStart);
      if (nextCr !== -1 && nextCr < lineStart) nextCr = text.indexOf('\r', lineStart);
    }
    if (lineStart < text.length) this.pendingLine.push(lineStart === 0 ? text : text.slice(lineStart));
  }

  /** End of stream: whatever is unterminated is discarded. */
  end(): void {
    this.decoder.decode();
    this.pendingLine.clear();
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.pendingCr = false;
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith('data: ')) {
      // The common case, without the general field split below.
      this.appendData(line.slice(6));
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.handlers.onComment?.(line.slice(line.charCodeAt(1) === 32 ? 2 : 1));
      return;
    }
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.appendData(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  /** Data lines of one event join with LF; together they are bounded like one line. */
  private appendData(value: string): void {
    if (!this.hasData) {
      this.data = value;
      this.hasData = true;
      return;
    }
    if (this.data.length + 1 + value.length > this.maxFrameSize)
      throw new FrameLimitError(this.maxFrameSize, "an event's data");
    this.data = `${this.data}\n${value}`;
  }

  private dispatch(): void {
    if (!this.hasData) {
      this.eventType = '';
      return;
    }
    const event: SseEvent = { event: this.eventType || 'message', data: this.data, id: this.lastEventId };
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.handlers.onEvent(event);
  }
}
