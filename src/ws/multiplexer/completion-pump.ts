import type { AppLogger } from '../../common/logging/logger';
import type { ChatCompletionRequest } from '../../contract/chat-request';
import type { StreamEvent } from '../../contract/stream-event';
import type { CompletionService, CompletionStream } from '../../streaming/completion.service';
import { validateChatRequest } from '../../streaming/dto/validate-chat-request';
import { MuxErrorCode, MuxMessageError, type ServerMessage } from '../mux-messages';
import { errorMessage, streamErrorMessage } from '../ws-errors';
import type { ConnectionState } from './connection-state';

/**
 * The `completion` messages of a connection: each is admitted (rate limits, a stream slot), started, and its
 * events forwarded on their own, so a slow one never holds up another; while the peer's buffer is over budget
 * a completion pauses (its upstream is not read) until the peer catches up.
 */
export class CompletionPump {
  constructor(
    private readonly completions: CompletionService,
    /** Completions one connection may run at once. */
    private readonly maxCompletions: number,
    private readonly log: AppLogger,
  ) {}

  /** A `completion` message: refused at once (duplicate id, too many, a bad request) or admitted. */
  start(state: ConnectionState, id: string, body: Record<string, unknown>, providerKey?: string): void {
    if (state.completions.has(id)) {
      throw new MuxMessageError(
        MuxErrorCode.DuplicateId,
        `A completion '${id}' is already running on this connection.`,
        'id',
        id,
      );
    }
    if (state.completions.size >= this.maxCompletions) {
      throw new MuxMessageError(
        MuxErrorCode.TooManyCompletions,
        `At most ${this.maxCompletions} completions may run at once on one connection.`,
        undefined,
        id,
      );
    }
    let request: ChatCompletionRequest;
    try {
      // Always a stream here: events go out as they come (and the first-token rules of streams apply).
      request = validateChatRequest({ ...body, stream: true });
    } catch (err) {
      state.send(errorMessage(err, { completionId: id }));
      return;
    }
    // Registered before admission (rate limits are checked in Redis), so a cancel right after finds it.
    const controller = new AbortController();
    state.completions.set(id, controller);
    void this.admit(state, id, request, controller, providerKey);
  }

  /** A `cancel` message: aborts the connection's completion `id`. */
  cancel(state: ConnectionState, id: string): void {
    const controller = state.completions.get(id);
    if (!controller) {
      throw new MuxMessageError(
        MuxErrorCode.UnknownCompletion,
        `No live completion '${id}' on this connection.`,
        'id',
        id,
      );
    }
    controller.abort();
  }

  /** The connection went away: aborts all its completions. */
  abortAll(state: ConnectionState): void {
    for (const controller of state.completions.values()) controller.abort();
    state.completions.clear();
  }

  /** Rate limits (requests and a stream slot, shared by every node), then the completion itself. */
  private async admit(
    state: ConnectionState,
    id: string,
    request: ChatCompletionRequest,
    controller: AbortController,
    providerKey: string | undefined,
  ): Promise<void> {
    const session = state.session;
    let release: (() => void) | undefined;
    let stream: CompletionStream;
    try {
      // Without a session (auth off) nothing is awaited: the completion starts (or is refused) at once, so
      // replies keep the order of the messages.
      if (session) {
        await session.hit();
        release = await session.acquireStream(`${state.id}:${id}`);
      }
      stream = this.open(state, id, request, controller.signal, providerKey);
    } catch (err) {
      release?.();
      if (state.completions.get(id) === controller) state.completions.delete(id);
      state.send(errorMessage(err, { completionId: id }));
      return;
    }
    try {
      await this.pump(state, id, stream, controller);
    } finally {
      release?.();
    }
  }

  /**
   * Starts one completion for the connection's principal, with the message's own provider key: CompletionService
   * sanitizes its events as the principal asks and drops the types its token does not allow (terminal events
   * always pass).
   */
  private open(
    state: ConnectionState,
    id: string,
    request: ChatCompletionRequest,
    signal: AbortSignal,
    providerKey: string | undefined,
  ): CompletionStream {
    return this.completions.start(request, {
      requestId: `${state.id}:${id}`,
      protocol: 'ws',
      principal: state.session?.principal,
      providerKey,
      providerKeyField: 'providerKey',
      signal,
    });
  }

  /** Forwards one completion's events; pauses (does not read on) while the peer's buffer is over budget. */
  private async pump(
    state: ConnectionState,
    id: string,
    stream: CompletionStream,
    controller: AbortController,
  ): Promise<void> {
    // Content deltas, the hot path, are written from a per-completion template (one JSON.stringify of the
    // text); the rarer messages go through JSON.stringify whole.
    const contentHead = `{"type":"content_chunk","completionId":${JSON.stringify(id)},"content":`;
    try {
      for await (const event of stream) {
        if (state.closed) break;
        if (event.type === 'content_chunk') state.sendText(`${contentHead}${JSON.stringify(event.content)}}`);
        else {
          const message = toMessage(id, event, stream);
          if (message) state.send(message);
        }
        if (event.type === 'completed' || event.type === 'error') break;
        if (state.overBudget && !(await state.writable())) break;
      }
    } catch (err) {
      this.log.error({ err, connection: state.id, completion: id }, 'WebSocket completion failed');
      state.send(errorMessage(err, { completionId: id }));
    } finally {
      if (state.completions.get(id) === controller) state.completions.delete(id);
    }
  }
}

/** A StreamEvent as the protocol's message; undefined for events it has no form for. */
function toMessage(
  completionId: string,
  event: StreamEvent,
  stream: CompletionStream,
): ServerMessage | undefined {
  switch (event.type) {
    case 'content_chunk':
      return { type: 'content_chunk', completionId, content: event.content };
    case 'thinking':
      return { type: 'thinking_status', completionId, status: 'thinking', content: event.content };
    case 'tool_call':
      return {
        type: 'tool_call',
        completionId,
        tool: event.name,
        arguments: event.argumentsDelta,
        toolCallId: event.toolCallId,
        index: event.index,
      };
    case 'tool_result':
      return undefined;
    case 'completed':
      return {
        type: 'completed',
        completionId,
        usage: event.usage,
        finishReason: event.finishReason,
        model: stream.model,
        provider: stream.provider,
      };
    case 'error':
      return streamErrorMessage(completionId, event.error);
  }
}
