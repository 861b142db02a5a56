import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { MetricsService } from '../../analytics/metrics.service';
import { CompletionError, DomainError, StreamErrorCode } from '../../contract/error-code';
import { AppConfig } from '../../config/app-config';
import { type CompletionStream, completionErrorOf } from '../../streaming/completion.service';
import { isTerminal, type StreamEvent } from '../../contract/stream-event';
import { REQUEST_ID_HEADER, servedByHeaders } from '../headers';
import {
  type ChunkStreamIdentity,
  DONE_FRAME,
  OpenAiChunkSerializer,
} from '../openai/openai-chunk.serializer';

export interface SseStreamOptions {
  includeUsage: boolean;
  /** The EventSource (GET) forms: advertise `retry:`. */
  eventSource: boolean;
  /**
   * A follower resuming: the events up to this sequence number were delivered before; they only prime the
   * serializer (so the tail continues the same chunk stream: no second role chunk, tool calls named once).
   */
  resumeAfter?: number;
  /**
   * A follower's stream opens with 200 whatever its first event; the starter's turns a failure before the first
   * token into an HTTP error (status, retry-after) instead.
   */
  follower?: boolean;
}

/** The header naming the completion, so a client can follow, resume or cancel it by id. */
export const COMPLETION_ID_HEADER = 'x-completion-id';

const KEEPALIVE_FRAME = ': keepalive\n\n';

/**
 * Writes a CompletionStream as OpenAI-format SSE on the raw response.
 * - Headers wait for the first event (so they name the provider that really served, and a failure before
 *   it is a proper HTTP error with status and retry-after), but never longer than one keepalive interval.
 * - A keepalive comment every `protocols.sse.keepalive_interval`, also while waiting for the first token.
 * - Backpressure: when the socket buffer is full, the upstream is not read until it drains.
 * - Every stream ends with a finish chunk or an error frame, then `data: [DONE]`.
 */
@Injectable()
export class SseResponder implements OnModuleInit {
  private open = 0;
  /** Open event streams (events()): how to end each with an error frame, and when it has ended. */
  private readonly eventStreams = new Map<(reason: DomainError) => void, EventStreamState>();

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly httpHost: HttpAdapterHost,
  ) {}

  /**
   * Event streams may never end by themselves (a definition's), and the HTTP server waits for every
   * connection: after the drain (Fastify's preClose), they end with a retryable error frame.
   */
  onModuleInit(): void {
    this.httpHost.httpAdapter.getInstance<FastifyInstance>().addHook('preClose', async () => {
      const reason = new CompletionError(
        StreamErrorCode.ServiceUnavailable,
        'This node is shutting down; reconnect (with Last-Event-ID) to resume on another.',
        { retryable: true },
      );
      // Streams that end by themselves (a run's: its last event may still be on its way) get a moment.
      const ending: Array<Promise<void>> = [];
      for (const [stop, state] of this.eventStreams) {
        if (state.endless) stop(reason);
        else ending.push(state.ended);
      }
      if (ending.length > 0) await Promise.race([Promise.all(ending), sleep(FINAL_EVENT_GRACE_MS)]);
      for (const stop of this.eventStreams.keys()) stop(reason);
    });
  }

  /** Throws (before anything is written) when SSE is off or full; the caller's filter answers. */
  private admit(): void {
    const sse = this.config.streaming.protocols.sse;
    if (!sse.enabled) {
      throw new CompletionError(
        StreamErrorCode.BadRequest,
        'Streaming over SSE is disabled on this server.',
        {
          param: 'stream',
        },
      );
    }
    if (this.open >= sse.max_connections) {
      throw new CompletionError(
        StreamErrorCode.ServiceUnavailable,
        'Too many open event streams; retry shortly.',
        {
          retryable: true,
          retryAfterMs: sse.retry_timeout,
        },
      );
    }
  }

  async send(
    stream: CompletionStream,
    request: FastifyRequest,
    reply: FastifyReply,
    options: SseStreamOptions,
  ): Promise<void> {
    this.admit();
    this.open++;
    const raw = reply.raw;
    // Made at the first event: the stream names its provider and model once it has committed to one.
    let serializer: OpenAiChunkSerializer | undefined;
    const meter = this.metrics.meter('sse');
    const sse = this.config.streaming.protocols.sse;
    let headersSent = false;
    const resumeAfter = options.resumeAfter ?? 0;
    // Every frame names its event (`id: <completionId>:<seq>`): Last-Event-ID says where a client was.
    const idHead = `id: ${stream.completionId}:`;

    // Frames produced in the same tick (a burst from one upstream read, or the headers and the first frame)
    // leave in one write: the socket is corked at the first and uncorked once the tick's work is done, which
    // costs no latency. Chunk metrics are counted locally and added in batches.
    let corked = false;
    let chunks = 0;
    let bytes = 0;
    const flushMeter = () => {
      meter.chunks.inc(chunks);
      meter.bytes.inc(bytes);
      chunks = 0;
      bytes = 0;
    };
    const uncork = () => {
      if (!corked) return;
      corked = false;
      raw.uncork();
    };
    const batch = () => {
      if (corked) return;
      corked = true;
      raw.cork();
      process.nextTick(uncork);
    };
    const write = (text: string): boolean => {
      if (raw.destroyed || raw.writableEnded) return true;
      batch();
      chunks++;
      bytes += Buffer.byteLength(text);
      if (chunks >= METER_BATCH) flushMeter();
      return raw.write(text);
    };
    // The current event's `id:` line, which starts each of its frames (the serializer puts it there).
    const idLine = (): string => `${idHead}${stream.seq}\n`;
    const openStream = () => {
      headersSent = true;
      batch();
      reply.hijack();
      raw.writeHead(200, {
        ...eventStreamHeaders(request, reply),
        ...servedByHeaders(stream),
        [COMPLETION_ID_HEADER]: stream.completionId,
      });
      raw.flushHeaders();
      if (options.eventSource) write(`retry: ${sse.retry_timeout}\n\n`);
    };
    const keepalive = setInterval(() => {
      if (!headersSent) openStream();
      write(KEEPALIVE_FRAME);
    }, sse.keepalive_interval);

    let ended = false;
    try {
      for await (const event of stream) {
        if (stream.seq <= resumeAfter) {
          // Delivered before the client reconnected: the serializer learns it, the client does not get it again.
          serializer ??= new OpenAiChunkSerializer(identityOf(stream), options.includeUsage);
          serializer.frame(event);
          if (isTerminal(event)) {
            if (!headersSent) openStream();
            write(idLine() + DONE_FRAME);
            ended = true;
            break;
          }
          continue;
        }
        const opening = !headersSent;
        if (opening) {
          if (event.type === 'error' && !options.follower) throw completionErrorOf(event.error);
          openStream();
        }
        serializer ??= new OpenAiChunkSerializer(identityOf(stream), options.includeUsage);
        const id = idLine();
        const frames = serializer.frame(event, id);
        if (isTerminal(event)) {
          write(frames + id + DONE_FRAME);
          ended = true;
          break;
        }
        const more = frames === '' || write(frames);
        // The headers and the first frame leave together, at once: time to first token is not held back.
        if (opening) uncork();
        if (!more) await writable(raw);
      }
      // A follower that stopped because its client left (the hub closed it) has nobody to tell.
      if (!ended && !raw.destroyed) throw new Error('the completion stream ended without a terminal event');
    } catch (err) {
      if (!headersSent) throw err;
      // A fault in this edge after the stream began: still end it with an error frame, never silently.
      const event: StreamEvent = {
        type: 'error',
        completionId: stream.completionId,
        error: {
          code: StreamErrorCode.Internal,
          message: 'The stream failed while being delivered.',
          retryable: true,
        },
      };
      request.log.error({ err }, 'SSE delivery failed');
      serializer ??= new OpenAiChunkSerializer(identityOf(stream), options.includeUsage);
      if (!ended) {
        const id = idLine();
        write(serializer.frame(event, id) + id + DONE_FRAME);
      }
    } finally {
      clearInterval(keepalive);
      if (chunks > 0) flushMeter();
      this.open--;
      if (headersSent && !raw.writableEnded) raw.end();
    }
  }

  /**
   * Writes a stream of numbered events as SSE with named events (`id:` = the event's sequence, so an
   * EventSource resumes with Last-Event-ID), keepalives and backpressure; ends with the stream, or with an
   * `error` event when it fails. The client leaving ends the subscription.
   */
  async events<T>(
    events: NumberedEvents<T>,
    frame: (event: { seq: number } & T) => NamedFrame,
    request: FastifyRequest,
    reply: FastifyReply,
    options: { endless: boolean },
  ): Promise<void> {
    try {
      this.admit();
    } catch (err) {
      void events.return();
      throw err;
    }
    this.open++;
    const raw = reply.raw;
    const sse = this.config.streaming.protocols.sse;
    const meter = this.metrics.meter('sse');
    reply.hijack();
    raw.writeHead(200, eventStreamHeaders(request, reply));
    const write = (text: string): boolean => {
      if (raw.destroyed || raw.writableEnded) return true;
      meter.chunks.inc();
      meter.bytes.inc(Buffer.byteLength(text));
      return raw.write(text);
    };
    write(`retry: ${sse.retry_timeout}\n\n`);
    const keepalive = setInterval(() => write(KEEPALIVE_FRAME), sse.keepalive_interval);
    const leave = () => void events.return();
    raw.once('close', leave);
    if (raw.destroyed) leave(); // the client left while the stream was being set up
    let stopped: DomainError | undefined;
    const stop = (reason: DomainError) => {
      stopped = reason;
      leave();
    };
    let ended!: () => void;
    this.eventStreams.set(stop, { endless: options.endless, ended: new Promise((r) => (ended = r)) });
    try {
      for await (const event of events) {
        if (raw.destroyed) break;
        const { event: name, data } = frame(event);
        if (!write(`id: ${event.seq}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`))
          await writable(raw);
      }
      if (stopped) throw stopped;
    } catch (err) {
      const error =
        err instanceof DomainError
          ? { code: err.code, message: err.message, retryable: err.retryable }
          : { code: StreamErrorCode.Internal, message: 'The event stream failed.', retryable: true };
      if (!(err instanceof DomainError)) request.log.error({ err }, 'SSE event stream failed');
      write(`event: error\ndata: ${JSON.stringify({ error })}\n\n`);
    } finally {
      clearInterval(keepalive);
      raw.off('close', leave);
      this.eventStreams.delete(stop);
      ended();
      this.open--;
      if (!raw.writableEnded) raw.end();
    }
  }
}

interface EventStreamState {
  /** It never ends by itself (a definition's every-run stream). */
  endless: boolean;
  ended: Promise<void>;
}

/** At shutdown, how long streams that end by themselves get to deliver their last event. */
const FINAL_EVENT_GRACE_MS = 1_000;

/** One frame of a named-event stream: the SSE `event:` name and its `data:` (JSON). */
export interface NamedFrame {
  event: string;
  data: unknown;
}

/** A subscription to a stream of numbered events (the bus's), ended early with `return()`. */
export type NumberedEvents<T> = AsyncIterable<{ seq: number } & T> & { return(): Promise<unknown> };

/** A snapshot of the stream's identity (its model and provider are fixed once it has committed). */
function identityOf(stream: CompletionStream): ChunkStreamIdentity {
  const { completionId, created, model, provider } = stream;
  return { completionId, created, model, provider };
}

/** Chunk counters are updated every so many frames (and at the end of a stream), not on every frame. */
const METER_BATCH = 64;

/**
 * The headers of an event stream (no caching or proxy buffering), with the reply's own and the request id.
 * `Connection: keep-alive` unless the client asked to close (or speaks HTTP/1.0 without keep-alive), which
 * gets `close` and its connection closed after the stream.
 */
function eventStreamHeaders(request: FastifyRequest, reply: FastifyReply): Record<string, string> {
  return {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: wantsClose(request) ? 'close' : 'keep-alive',
    'x-accel-buffering': 'no',
    [REQUEST_ID_HEADER]: request.id,
  };
}

function wantsClose(request: FastifyRequest): boolean {
  const connection = request.headers.connection ?? '';
  if (/\bclose\b/i.test(connection)) return true;
  return request.raw.httpVersion === '1.0' && !/\bkeep-alive\b/i.test(connection);
}

/** Resolves when the socket can take more, or has closed. */
function writable(raw: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      raw.off('drain', done);
      raw.off('close', done);
      resolve();
    };
    raw.on('drain', done);
    raw.on('close', done);
  });
}
