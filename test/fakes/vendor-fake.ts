import {
  FakeUpstream,
  type RecordedRequest,
  type Responder,
  type WireResponse,
  type WireStep,
} from '../../src/providers/testing/fake-upstream';

/**
 * A vendor-neutral script of one answer. Each vendor's wire module renders it in that vendor's exact format,
 * streaming or not, so a test states what the model "says" once and every vendor fake can say it.
 */
export interface FakeToolCall {
  id?: string;
  name: string;
  /** The arguments JSON in the fragments it is streamed in (joined, it must be the whole JSON). */
  arguments: string[];
}

export interface Turn {
  thinking?: string[];
  text?: string[];
  toolCalls?: FakeToolCall[];
  usage?: { prompt: number; completion: number; reasoning?: number };
  /** The vendor's own finish value (`stop`, `end_turn`, `MAX_TOKENS`...); the natural one when absent. */
  finish?: string;
  /** Interleave the vendor's keepalives (SSE comments, pings) between frames. */
  keepalive?: boolean;
}

export type ErrorKind =
  'auth' | 'forbidden' | 'rate_limit' | 'overloaded' | 'server' | 'unavailable' | 'bad_request' | 'not_found';

export interface HttpErrorReply {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

/** A stream as the vendor frames it: preamble, content frames, and the frames that finish it. */
export interface StreamFrames {
  head: string[];
  body: string[];
  tail: string[];
}

/** What a vendor's wire module provides to the generic fake. */
export interface VendorWire {
  name: string;
  /** Whether the request asked for a stream (body flag, URL, or the vendor's default). */
  wantsStream(request: RecordedRequest): boolean;
  /** The text of the last user message, for the echo default and `[fake:...]` directives. */
  lastUserText(request: RecordedRequest): string;
  contentType: string;
  streamFrames(turn: Turn, request: RecordedRequest): StreamFrames;
  json(turn: Turn, request: RecordedRequest): unknown;
  httpError(kind: ErrorKind, message: string, retryAfterSeconds?: number): HttpErrorReply;
  /** An error reported inside a 200 stream. */
  errorFrame(kind: ErrorKind, message: string): string;
  /** A frame that is not valid for the vendor (truncated JSON). */
  malformedFrame(): string;
  /** A keepalive: an SSE comment, a ping event, or '' when the vendor has none. */
  keepaliveFrame(): string;
  /** Other routes the fake answers (model lists), or undefined to fall through. */
  extraRoute?(request: RecordedRequest): WireResponse | undefined;
  /** Headers the vendor puts on every response (Anthropic's `request-id`...). */
  responseHeaders?(): Record<string, string>;
}

export interface DripOptions {
  bytes: number;
  everyMs: number;
}

export interface FailOptions {
  message?: string;
  retryAfterSeconds?: number;
  headers?: Record<string, string>;
}

/** Scenario builders for one vendor: each returns a Responder that plays the scenario in its wire format. */
export class Scenarios {
  constructor(private readonly wire: VendorWire) {}

  /** The answer, streamed or whole as the request asked. */
  reply(turn: Turn): Responder {
    return (request) => answer(this.wire, turn, request);
  }

  /** The vendor's HTTP error for `kind`. */
  fail(kind: ErrorKind, options: FailOptions = {}): Responder {
    return () => {
      const reply = this.wire.httpError(
        kind,
        options.message ?? defaultMessage(kind),
        options.retryAfterSeconds,
      );
      return {
        status: reply.status,
        headers: {
          'content-type': 'application/json',
          ...this.wire.responseHeaders?.(),
          ...reply.headers,
          ...options.headers,
        },
        steps: [{ write: reply.body }],
      };
    };
  }

  /** Streams `turn`'s content, then an error frame instead of finishing. */
  failMidStream(turn: Turn, kind: ErrorKind, message = defaultMessage(kind)): Responder {
    return this.streamThen(turn, [{ write: this.wire.errorFrame(kind, message) }]);
  }

  malformedMidStream(turn: Turn): Responder {
    return this.streamThen(turn, [{ write: this.wire.malformedFrame() }]);
  }

  /** Streams `turn`'s content, then goes silent with the connection open. */
  stallMidStream(turn: Turn): Responder {
    return this.streamThen(turn, [{ stall: true }]);
  }

  /** Streams `turn`'s content, then resets the connection. */
  closeMidStream(turn: Turn): Responder {
    // A short pause first, so the content is delivered before the reset (a RST can discard unread data).
    return this.streamThen(turn, [{ delayMs: 30 }, { destroy: true }]);
  }

  /** Streams `turn`'s content, then ends the response cleanly without the vendor's end marker. */
  endEarly(turn: Turn): Responder {
    return this.streamThen(turn, []);
  }

  /** Never sends the response headers. */
  stallBeforeHeaders(): Responder {
    return () => ({ status: 200, headers: {}, steps: [], stallBeforeHeaders: true });
  }

  /** Streams the whole answer a few bytes at a time. */
  drip(turn: Turn, options: DripOptions = { bytes: 3, everyMs: 2 }): Responder {
    return (request) => {
      const frames = this.wire.streamFrames(turn, request);
      const text = [...frames.head, ...frames.body, ...frames.tail].join('');
      return { status: 200, headers: streamHeaders(this.wire), steps: [{ drip: text, ...options }] };
    };
  }

  private streamThen(turn: Turn, after: WireStep[]): Responder {
    return (request) => {
      const frames = this.wire.streamFrames(turn, request);
      const steps: WireStep[] = [...frames.head, ...frames.body].map((write) => ({ write }));
      return { status: 200, headers: streamHeaders(this.wire), steps: [...steps, ...after] };
    };
  }
}

/** A vendor fake: the generic upstream server plus queued scenarios rendered by a vendor's wire module. */
export class VendorFake extends FakeUpstream {
  readonly scenarios: Scenarios;

  constructor(
    readonly wire: VendorWire,
    options: { record?: boolean } = {},
  ) {
    super((request) => directedResponse(wire, request), {
      ...options,
      route: wire.extraRoute ? (request) => wire.extraRoute?.(request) : undefined,
    });
    this.scenarios = new Scenarios(wire);
  }

  reply(turn: Turn): this {
    return this.enqueue(this.scenarios.reply(turn));
  }

  fail(kind: ErrorKind, options: FailOptions = {}): this {
    return this.enqueue(this.scenarios.fail(kind, options));
  }

  failMidStream(turn: Turn, kind: ErrorKind, message?: string): this {
    return this.enqueue(this.scenarios.failMidStream(turn, kind, message));
  }

  malformedMidStream(turn: Turn): this {
    return this.enqueue(this.scenarios.malformedMidStream(turn));
  }

  stallMidStream(turn: Turn): this {
    return this.enqueue(this.scenarios.stallMidStream(turn));
  }

  closeMidStream(turn: Turn): this {
    return this.enqueue(this.scenarios.closeMidStream(turn));
  }

  endEarly(turn: Turn): this {
    return this.enqueue(this.scenarios.endEarly(turn));
  }

  stallBeforeHeaders(): this {
    return this.enqueue(this.scenarios.stallBeforeHeaders());
  }

  drip(turn: Turn, options?: DripOptions): this {
    return this.enqueue(this.scenarios.drip(turn, options));
  }
}

function streamHeaders(wire: VendorWire): Record<string, string> {
  return { 'content-type': wire.contentType, 'cache-control': 'no-cache', ...wire.responseHeaders?.() };
}

/** Streams or answers whole, as the request asked; keepalives between frames when the turn wants them. */
export function answer(wire: VendorWire, turn: Turn, request: RecordedRequest): WireResponse {
  if (!wire.wantsStream(request)) {
    return {
      status: 200,
      headers: { 'content-type': 'application/json', ...wire.responseHeaders?.() },
      steps: [{ write: JSON.stringify(wire.json(turn, request)) }],
    };
  }
  const { head, body, tail } = wire.streamFrames(turn, request);
  const keepalive = turn.keepalive ? wire.keepaliveFrame() : '';
  const steps: WireStep[] = [];
  for (const frame of [...head, ...body, ...tail]) {
    if (keepalive) steps.push({ write: keepalive });
    steps.push({ write: frame });
  }
  return { status: 200, headers: streamHeaders(wire), steps };
}

function defaultMessage(kind: ErrorKind): string {
  return {
    auth: 'Invalid API key provided.',
    forbidden: 'This key may not use this model.',
    rate_limit: 'Rate limit reached. Please try again later.',
    overloaded: 'Overloaded',
    server: 'The server had an error while processing your request.',
    unavailable: 'The service is temporarily unavailable.',
    bad_request: 'Invalid request: max_tokens is too large.',
    not_found: 'The model does not exist.',
  }[kind];
}

const DIRECTIVE = /\[fake:([a-z-]+)(?:=([\w-]+))?\]/g;

/**
 * The default answer, steered by `[fake:...]` directives in the last user message, so the fakes can be tried by
 * hand through `npm start` with curl or any client:
 * `[fake:thinking]`, `[fake:tool]`, `[fake:error=rate_limit]` (any ErrorKind), `[fake:mid-error=overloaded]`,
 * `[fake:malformed]`, `[fake:stall]`, `[fake:close]`, `[fake:drip]`, `[fake:keepalive]`.
 * Without directives it echoes the message back word by word.
 */
export function directedResponse(wire: VendorWire, request: RecordedRequest): WireResponse {
  const text = wire.lastUserText(request);
  const directives = new Map<string, string>();
  for (const match of text.matchAll(DIRECTIVE)) directives.set(match[1]!, match[2] ?? '');
  const said = text.replace(DIRECTIVE, '').trim() || `Hello from the fake ${wire.name} upstream.`;
  const words = said.split(/(?<=\s)/);
  const turn: Turn = {
    text: words,
    usage: { prompt: Math.max(1, Math.ceil(text.length / 4)), completion: words.length },
    keepalive: directives.has('keepalive'),
  };
  if (directives.has('thinking')) turn.thinking = ['Let me think ', 'about that.'];
  if (directives.has('tool')) {
    turn.text = [];
    turn.toolCalls = [{ name: directives.get('tool') || 'get_weather', arguments: ['{"city":', '"Paris"}'] }];
  }
  const play = new Scenarios(wire);
  const error = directives.get('error');
  let responder: Responder;
  if (error !== undefined) responder = play.fail(asKind(error, 'server'));
  else if (directives.has('mid-error'))
    responder = play.failMidStream(turn, asKind(directives.get('mid-error'), 'server'));
  else if (directives.has('malformed')) responder = play.malformedMidStream(turn);
  else if (directives.has('stall')) responder = play.stallMidStream(turn);
  else if (directives.has('close')) responder = play.closeMidStream(turn);
  else if (directives.has('drip')) responder = play.drip(turn, { bytes: 4, everyMs: 20 });
  else responder = play.reply(turn);
  return responder(request);
}

const KINDS: readonly ErrorKind[] = [
  'auth',
  'forbidden',
  'rate_limit',
  'overloaded',
  'server',
  'unavailable',
  'bad_request',
  'not_found',
];

function asKind(value: string | undefined, fallback: ErrorKind): ErrorKind {
  return KINDS.find((kind) => kind === value) ?? fallback;
}

/** The text of the last `user` message of a chat-style body (`messages[{role, content}]`, content a string or
 * parts/blocks of `{type: 'text', text}`), as OpenAI and Anthropic both send it. */
export function lastUserMessageText(body: unknown): string {
  const messages = (body as { messages?: unknown } | undefined)?.messages;
  if (!Array.isArray(messages)) return '';
  const last = [...(messages as Array<{ role?: string; content?: unknown }>)]
    .reverse()
    .find((m) => m.role === 'user');
  const content = last?.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: { type?: string; text?: string }) => (part.type === 'text' ? (part.text ?? '') : ''))
    .join('');
}
