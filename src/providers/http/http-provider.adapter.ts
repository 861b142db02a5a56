import type { Dispatcher, Pool } from 'undici';
import { StreamErrorCode } from '../../contract/error-code';
import type { ModelConfig, ProviderConfig, ProviderType } from '../../config/app-config';
import type { StreamEvent } from '../../contract/stream-event';
import type { ProviderAdapter, ProviderStreamRequest } from '../provider-adapter';
import { FrameLimitError } from '../framing/frame-limit';
import { FrameTranslator } from './frame-translator';
import { ProviderError } from '../provider.error';
import {
  header,
  httpStatusError,
  invalidResponse,
  retryAfterFromHeaders,
  type TransportTimeouts,
  transportError,
} from './upstream-errors';
import type { UpstreamPools } from './upstream-pools';
import { describeBaseUrl, normalizeBaseUrl } from './base-url';
import type { ParseContext, VendorCodec } from './vendor-codec';

/** What an adapter needs from the outside: shared pools and memory limits. */
export interface AdapterDeps {
  pools: UpstreamPools;
  /** Largest non-streaming response body accepted from an upstream, in bytes. */
  maxResponseBytes: number;
}

/** One upstream HTTP call, as an adapter builds it. */
export interface UpstreamCall {
  method?: 'POST' | 'GET';
  /** Appended to the base URL's path, e.g. `/chat/completions`. */
  path: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  body?: string;
}

const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * The shared HTTP machinery of every vendor adapter: pooled requests, timeouts, the client's abort, framing,
 * HTTP error classification and response-size limits. A vendor supplies request building, its parsers and how
 * to read its error bodies.
 */
export abstract class HttpProviderAdapter implements ProviderAdapter {
  abstract readonly type: ProviderType;
  abstract readonly framing: 'sse' | 'ndjson';
  protected readonly baseUrl: URL | undefined;
  protected readonly timeouts: TransportTimeouts;

  protected constructor(
    readonly id: string,
    protected readonly config: ProviderConfig,
    protected readonly deps: AdapterDeps,
    defaultBaseUrl: string | undefined,
    /** Whether the vendor needs an API key at all (Ollama and self-hosted OpenAI-compatible servers do not). */
    protected readonly requiresKey: boolean,
  ) {
    const base = config.base_url ?? defaultBaseUrl;
    this.baseUrl = base === undefined ? undefined : normalizeBaseUrl(config.type, base);
    this.timeouts = {
      connect: config.connect_timeout,
      firstByte: config.first_byte_timeout,
      idle: config.idle_timeout,
    };
  }

  get endpoint(): string | undefined {
    return describeBaseUrl(this.baseUrl);
  }

  get configured(): boolean {
    return this.missingCredentials(undefined) === undefined;
  }

  missingCredentials(apiKey: string | undefined): string | undefined {
    if (!this.baseUrl) {
      const env = this.config.base_url_env ? ` (or ${this.config.base_url_env})` : '';
      return `Provider '${this.id}' has no base URL; set providers.${this.id}.base_url${env}.`;
    }
    if (this.requiresKey && !(apiKey ?? this.config.api_key)) {
      const env = this.config.api_key_env ? `set ${this.config.api_key_env}, or ` : '';
      return `Provider '${this.id}' has no API key: ${env}send your key in the X-Provider-Key header.`;
    }
    return undefined;
  }

  checkModel(model: ModelConfig): string[] {
    void model;
    return [];
  }

  /** The upstream request for a completion; `stream` says whether to ask the vendor for a stream. */
  protected abstract buildCall(
    request: ProviderStreamRequest,
    stream: boolean,
    apiKey?: string,
  ): UpstreamCall;
  /** How this vendor's responses are read. */
  protected abstract readonly codec: VendorCodec;

  /** JSON in; the vendor's stream framing or JSON out. */
  protected jsonHeaders(stream: boolean): Record<string, string> {
    const streamType = this.framing === 'sse' ? 'text/event-stream' : 'application/x-ndjson';
    return { 'content-type': 'application/json', accept: stream ? streamType : 'application/json' };
  }

  async *stream(request: ProviderStreamRequest): AsyncGenerator<StreamEvent> {
    const apiKey = request.apiKey ?? this.config.api_key;
    const missing = this.missingCredentials(apiKey);
    if (missing) {
      throw new ProviderError(StreamErrorCode.AuthenticationFailed, missing, this.id, { retryable: false });
    }
    const stream = request.body.stream === true;
    const call = this.buildCall(request, stream, apiKey);
    const secrets = apiKey ? [apiKey] : [];
    const ctx: ParseContext = {
      completionId: request.completionId,
      provider: this.id,
      model: request.model,
      request: request.body,
      secrets,
    };
    const response = await this.send(call, request.signal, stream);
    const { body } = response;
    // Whether the vendor finished its answer: then the rest of the body (a chunked terminator) is read so the
    // connection goes back to the pool, even when the consumer stops at the terminal event.
    let vendorEnd = () => false;
    try {
      if (response.statusCode < 200 || response.statusCode >= 300) {
        throw await this.statusError(response, secrets);
      }
      const contentType = header(response.headers, 'content-type') ?? '';
      // A vendor may answer a stream request with one JSON body (OpenAI-compatible servers that ignore
      // `stream`); that is still a valid answer.
      if (!stream || contentType.includes('application/json')) {
        const json = parseJson(await readBody(body, this.deps.maxResponseBytes, this.id), this.id);
        const events = this.codec.response(json, ctx);
        vendorEnd = () => true;
        yield* events;
        return;
      }
      // A line or frame is bounded by the provider's max_frame_size and by what one stream may hold.
      const maxFrame = Math.min(this.config.max_frame_size, this.deps.maxResponseBytes);
      const translator = new FrameTranslator(this.framing, this.codec.parser(ctx), maxFrame);
      vendorEnd = () => translator.finished;
      // Leaving the loop early (the vendor's end marker, the consumer stopping) must not destroy the body: the
      // finally below decides between reading it out (connection reused) and closing it.
      const chunks = body.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer>;
      // Progress is content, not bytes: keepalives, pings and partial lines do not count. The body timeout
      // (idle) ends a silent stream; progress_timeout ends one that trickles bytes without making an event.
      const progressTimeout = this.config.progress_timeout;
      let lastProgress = performance.now();
      for await (const chunk of chunks) {
        let produced = false;
        for (const event of translator.feed(chunk)) {
          produced = true;
          yield event;
        }
        if (translator.finished) break;
        // Taken after the consumer has read the events, so a slow reader is not mistaken for a stalled vendor.
        const now = performance.now();
        if (produced) lastProgress = now;
        else if (now - lastProgress > progressTimeout) throw noProgress(this.id, progressTimeout);
      }
      yield* translator.end();
    } catch (err) {
      if (err instanceof FrameLimitError) throw invalidResponse(this.id, err.message);
      throw transportError(this.id, err, this.timeouts) ?? err;
    } finally {
      release(body, vendorEnd());
    }
  }

  /** A GET returning JSON (model discovery), with the connect and first-byte timeouts. */
  protected async getJson(path: string, signal: AbortSignal): Promise<unknown> {
    const call: UpstreamCall = { method: 'GET', path, headers: this.authHeaders(this.config.api_key) };
    const response = await this.send(call, signal, true);
    if (response.statusCode !== 200) throw await this.statusError(response, []);
    return parseJson(await readBody(response.body, this.deps.maxResponseBytes, this.id), this.id);
  }

  /** The vendor's auth header for a key; OpenAI-style Bearer unless `auth_header` names another header. */
  protected authHeaders(apiKey: string | undefined, vendorHeader = 'authorization'): Record<string, string> {
    if (!apiKey) return {};
    const name = (this.config.auth_header ?? vendorHeader).toLowerCase();
    return { [name]: name === 'authorization' ? `Bearer ${apiKey}` : apiKey };
  }

  private async send(
    call: UpstreamCall,
    signal: AbortSignal,
    stream: boolean,
  ): Promise<Dispatcher.ResponseData> {
    const base = this.baseUrl!;
    const pool: Pool = this.deps.pools.get(base.origin, { connectTimeout: this.timeouts.connect });
    const query = { ...this.config.query, ...call.query };
    const search = new URLSearchParams(query).toString();
    const path = `${base.pathname === '/' ? '' : base.pathname}${call.path}${search ? `?${search}` : ''}`;
    try {
      return await pool.request({
        method: call.method ?? 'POST',
        path,
        headers: { ...this.config.headers, ...call.headers },
        body: call.body,
        signal,
        headersTimeout: stream ? this.timeouts.firstByte : this.config.request_timeout,
        bodyTimeout: stream ? this.timeouts.idle : this.config.request_timeout,
      });
    } catch (err) {
      throw transportError(this.id, err, this.timeouts) ?? err;
    }
  }

  private async statusError(
    response: Dispatcher.ResponseData,
    secrets: readonly string[],
  ): Promise<ProviderError> {
    let text = '';
    try {
      text = await readBody(response.body, ERROR_BODY_LIMIT, this.id, true);
    } catch {
      // The status is what matters; a body that cannot be read adds nothing.
    }
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text) as unknown;
    } catch {
      // Not JSON (a proxy's HTML page, plain text): errorInfo gets the text.
    }
    const info = this.codec.errorInfo(parsed);
    const retryAfterMs = retryAfterFromHeaders(response.headers) ?? info.retryAfterMs;
    return httpStatusError(this.id, response.statusCode, { ...info, retryAfterMs }, secrets);
  }
}

/**
 * Done with a response body: after a clean end it is read out so the connection returns to the pool; otherwise
 * the upstream request is closed. Errors from a body nobody reads any more are expected and dropped.
 */
function release(body: Dispatcher.ResponseData['body'], reuse: boolean): void {
  if (body.destroyed) return;
  body.on('error', ignore);
  if (reuse) body.dump({ limit: ERROR_BODY_LIMIT }).catch(ignore);
  else body.destroy();
}

function ignore(): void {
  // intentionally empty
}

/** Reads a body up to `limit` bytes; past it, a success body is an invalid response and an error body is cut. */
async function readBody(
  body: Dispatcher.ResponseData['body'],
  limit: number,
  provider: string,
  truncate = false,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      if (truncate) {
        chunks.push(chunk.subarray(0, chunk.length - (size - limit)));
        body.destroy();
        break;
      }
      throw invalidResponse(provider, `the response is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string, provider: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidResponse(provider, 'the response is not valid JSON');
  }
}

/** An upstream that keeps the connection busy without sending any content (bytes, pings) for `ms`. */
function noProgress(provider: string, ms: number): ProviderError {
  return new ProviderError(
    StreamErrorCode.ProviderTimeout,
    `${provider}: no content for ${ms} ms (only keepalives or partial data arrived)`,
    provider,
    { retryable: true },
  );
}

/** Parses one frame's JSON, or throws `invalid_response` naming the vendor. */
export function parseFrame<T>(data: string, provider: string): T {
  try {
    return JSON.parse(data) as T;
  } catch {
    // The frame itself is not quoted: it may hold user content.
    throw invalidResponse(provider, `malformed stream frame (${data.length} characters that are not JSON)`);
  }
}
