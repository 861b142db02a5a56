import type { ModelConfig } from '../../config/app-config';
import type { ChatCompletionRequest } from '../../contract/chat-request';
import type { StreamEvent } from '../../contract/stream-event';
import type { VendorErrorInfo } from './upstream-errors';

/** The context a vendor parser translates in. */
export interface ParseContext {
  completionId: string;
  provider: string;
  model: ModelConfig;
  request: ChatCompletionRequest;
  /** Secrets to scrub from any vendor text that becomes an error message. */
  secrets: readonly string[];
}

/**
 * A stateful translator of one vendor stream (tool-call indexes, usage so far...) into StreamEvents. It pushes
 * events into `out` and throws a classified ProviderError on an error frame or malformed data.
 */
export interface VendorStreamParser {
  /** One SSE event (`event` is its name, `message` when unnamed) or one NDJSON line (`event` is `message`). */
  frame(event: string, data: string, out: StreamEvent[]): void;
  /** The upstream body ended: push the terminal `completed` if the vendor finished, else throw. */
  end(out: StreamEvent[]): void;
  /** The vendor's end marker has been seen; nothing after it is read. */
  readonly finished: boolean;
}

/** How one vendor's responses are read: its stream parser, its whole-response parser, its error bodies. */
export interface VendorCodec {
  parser(ctx: ParseContext): VendorStreamParser;
  /** A whole (non-streaming) vendor response -> events, ending with `completed`. */
  response(body: unknown, ctx: ParseContext): StreamEvent[];
  /** The vendor's error body (parsed JSON, or text when it is not JSON) -> what it says. */
  errorInfo(body: unknown): VendorErrorInfo;
}
