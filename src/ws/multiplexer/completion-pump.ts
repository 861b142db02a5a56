import type { AppLogger } from '../../common/logging/logger';
import type { ChatCompletionRequest } from '../../contract/chat-request';
import { CompletionError, StreamErrorCode } from '../../contract/error-code';
import { ownerOf } from '../../contract/principal';
import type { StreamEvent } from '../../contract/stream-event';
import type { CompletionService, CompletionStream } from '../../streaming/completion.service';
import { validateChatRequest } from '../../streaming/dto/validate-chat-request';
import type { CompletionFollow } from '../../streaming/hub/followers';
import type { StreamHub } from '../../streaming/hub/stream-hub.service';
import { MuxErrorCode, MuxMessageError, type ServerMessage } from '../mux-messages';
import { errorMessage, streamErrorMessage } from '../ws-errors';
import type { ConnectionState, OwnCompletion } from './connection-state';

/** What the pumps need of the stream hub (a spec fakes it). */
export type CompletionHub = Pick<StreamHub, 'node' | 'follow' | 'cancel' | 'onStart'>;

/**
 * The `completion` messages of a connection: each is admitted (rate limits, a stream slot), started on the
 * stream hub, and its events forwarded on their own, so a slow one never holds up another; while the peer's
 * buffer is over budget a completion pauses (its follower is not read, and the hub paces the provider by it)
 * until the peer catches up. The connection closing only detaches its completions (they run on for the orphan
 * grace, followable again by their `completionId`); a `cancel` message cancels one.
 */
export class CompletionPump {
  constructor(
    private readonly completions: CompletionService,
    private readonly hub: CompletionHub,
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
      state.send(errorMessage(err, { id }));
      return;
    }
    // Registered before admission (rate limits are checked in Redis), so a cancel right after finds it.
    const entry: OwnCompletion = { controller: new AbortController() };
    state.completions.set(id, entry);
    void this.admit(state, id, request, entry, providerKey);
  }

  /**
   * A `cancel` message: cancels the connection's completion `id` wherever the hub runs it (its followers
   * elsewhere get the `cancelled` end too); one still being admitted is not started.
   */
  cancel(state: ConnectionState, id: string): void {
    const entry = state.completions.get(id);
    if (!entry) {
      throw new MuxMessageError(
        MuxErrorCode.UnknownCompletion,
        `No live completion '${id}' on this connection.`,
        'id',
        id,
      );
    }
    entry.cancelled = true;
    if (entry.completionId !== undefined) this.cancelStarted(state, id, entry.completionId);
  }

  /**
   * The connection went away: its completions are detached (the signal's `resume`), not cancelled: each runs
   * on for `streaming.hub.orphan_grace` unless someone follows it again.
   */
  abortAll(state: ConnectionState): void {
    for (const entry of state.completions.values()) entry.controller.abort();
    state.completions.clear();
    state.own.clear();
  }

  /** Rate limits (requests and a stream slot, shared by every node), then the completion itself. */
  private async admit(
    state: ConnectionState,
    id: string,
    request: ChatCompletionRequest,
    entry: OwnCompletion,
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
      if (state.closed || entry.cancelled) {
        // Gone or cancelled while admitted: nothing was started, so nothing runs on.
        release?.();
        if (state.completions.get(id) === entry) state.completions.delete(id);
        if (!state.closed) state.send(errorMessage(cancelledBeforeStart(), { id }));
        return;
      }
      stream = this.open(state, id, request, entry.controller.signal, providerKey);
    } catch (err) {
      release?.();
      if (state.completions.get(id) === entry) state.completions.delete(id);
      state.send(errorMessage(err, { id }));
      return;
    }
    entry.completionId = stream.completionId;
    state.own.add(stream.completionId);
    try {
      await forward(state, stream, id, this.log);
    } finally {
      release?.();
      state.own.delete(stream.completionId);
      if (state.completions.get(id) === entry) state.completions.delete(id);
    }
  }

  /**
   * Starts one completion for the connection's principal, with the message's own provider key: CompletionService
   * sanitizes its events as the principal asks and drops the types its token does not allow (terminal events
   * always pass). It is owned by the principal's user (so only they, or an all-scoped token, may follow it).
   */
  private open(
    state: ConnectionState,
    id: string,
    request: ChatCompletionRequest,
    signal: AbortSignal,
    providerKey: string | undefined,
  ): CompletionStream {
    const principal = state.session?.principal;
    return this.completions.start(request, {
      requestId: `${state.id}:${id}`,
      protocol: 'ws',
      principal,
      owner: ownerOf(principal),
      providerKey,
      providerKeyField: 'providerKey',
      signal,
      detach: 'resume',
    });
  }

  /** Cancels a started completion in the hub; its end (`cancelled`) reaches the client through its pump. */
  private cancelStarted(state: ConnectionState, id: string, completionId: string): void {
    this.hub.cancel(completionId).catch((err: unknown) => {
      this.log.warn({ err, connection: state.id, completion_id: completionId }, 'WebSocket cancel failed');
      state.send(errorMessage(err, { id, completionId }));
    });
  }
}

/**
 * Forwards one completion's events to the connection, its own (`id`: the client's) or a followed one, until its
 * last event, the follower's end, or the connection's; pauses (does not read on) while the peer's buffer is over
 * budget. Leaving early closes the follower (the hub decides what that does to the completion).
 */
export async function forward(
  state: ConnectionState,
  follow: CompletionFollow,
  id: string | undefined,
  log: AppLogger,
): Promise<void> {
  const { completionId } = follow;
  // Content deltas, the hot path, are written from a per-completion template (one JSON.stringify of the
  // text); the rarer messages go through JSON.stringify whole.
  const named = id === undefined ? '' : `"id":${JSON.stringify(id)},`;
  const contentHead = `{"type":"content_chunk",${named}"completionId":${JSON.stringify(completionId)},"seq":`;
  try {
    for await (const event of follow) {
      if (state.closed) break;
      if (event.type === 'content_chunk')
        state.sendText(`${contentHead}${follow.seq},"content":${JSON.stringify(event.content)}}`);
      else {
        const message = toMessage(id, event, follow);
        if (message) state.send(message);
      }
      if (event.type === 'completed' || event.type === 'error') break;
      if (state.overBudget && !(await state.writable())) break;
    }
  } catch (err) {
    log.error({ err, connection: state.id, completion_id: completionId }, 'WebSocket completion failed');
    state.send(errorMessage(err, id === undefined ? { completionId } : { id, completionId }));
  } finally {
    follow.close();
  }
}

/** A StreamEvent as the protocol's message; undefined for events it has no form for. */
function toMessage(
  id: string | undefined,
  event: StreamEvent,
  follow: CompletionFollow,
): ServerMessage | undefined {
  const subject = {
    ...(id === undefined ? {} : { id }),
    completionId: follow.completionId,
    seq: follow.seq,
  };
  switch (event.type) {
    case 'content_chunk':
      return { type: 'content_chunk', ...subject, content: event.content };
    case 'thinking':
      return { type: 'thinking_status', ...subject, status: 'thinking', content: event.content };
    case 'tool_call':
      return {
        type: 'tool_call',
        ...subject,
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
        ...subject,
        usage: event.usage,
        finishReason: event.finishReason,
        model: follow.model,
        provider: follow.provider,
      };
    case 'error':
      return streamErrorMessage(subject, event.error);
  }
}

function cancelledBeforeStart(): CompletionError {
  return new CompletionError(StreamErrorCode.Cancelled, 'The completion was cancelled before it started.');
}
