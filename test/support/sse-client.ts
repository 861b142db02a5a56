import { type SseEvent, SseParser } from '../../src/providers/framing/sse.parser';

export interface SseResult {
  status: number;
  headers: Headers;
  /** The exact bytes received, as text. */
  raw: string;
  events: SseEvent[];
  comments: string[];
  retries: number[];
}

/** Reads a whole event stream with fetch and the project's WHATWG SSE parser, keeping the raw text too. */
export async function readSse(response: Response, onEvent?: (event: SseEvent) => void): Promise<SseResult> {
  const result: SseResult = {
    status: response.status,
    headers: response.headers,
    raw: '',
    events: [],
    comments: [],
    retries: [],
  };
  const parser = new SseParser({
    onEvent: (event) => {
      result.events.push(event);
      onEvent?.(event);
    },
    onComment: (comment) => result.comments.push(comment),
    onRetry: (ms) => result.retries.push(ms),
  });
  const decoder = new TextDecoder();
  if (!response.body) return result;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    result.raw += decoder.decode(chunk, { stream: true });
    parser.feed(chunk);
  }
  parser.end();
  return result;
}

export function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** data frames parsed as JSON, [DONE] excluded. */
export function jsonFrames(result: SseResult): Array<Record<string, unknown>> {
  return result.events
    .filter((e) => e.data !== '[DONE]')
    .map((e) => JSON.parse(e.data) as Record<string, unknown>);
}

/** The `delta` of each chunk's first choice (chunks without choices, such as the usage chunk, give {}). */
export function deltasOf(result: SseResult): Array<Record<string, string | undefined>> {
  return jsonFrames(result).map(
    (f) => (f as { choices?: Array<{ delta?: Record<string, string> }> }).choices?.[0]?.delta ?? {},
  );
}

/** The streamed answer text: every `delta.content` joined. */
export function contentOf(result: SseResult): string {
  return deltasOf(result)
    .map((d) => d.content ?? '')
    .join('');
}

/** Starts reading a stream; `firstEvent` resolves at its first event, `done` with the whole result. */
export function readSseFromFirstEvent(response: Response): {
  firstEvent: Promise<void>;
  done: Promise<SseResult>;
} {
  let first!: () => void;
  const firstEvent = new Promise<void>((resolve) => (first = resolve));
  return { firstEvent, done: readSse(response, () => first()) };
}
