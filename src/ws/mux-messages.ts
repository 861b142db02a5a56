import type { FinishReason, Usage } from '../contract/stream-event';
import type { BusEnvelope } from '../events/bus-subscription';
import type { WorkflowBusEvent } from '../contract/topics';

/**
 * The multiplexed stream protocol (`/ws/stream`): raw JSON messages with a `type`. Every server message about a
 * completion carries the server's `completionId` (the `chatcmpl-…` id every protocol knows it by) and the
 * client's own `id` when the client started it on this socket, so many completions share one socket and any of
 * them can be followed again, from anywhere, by its `completionId`; each event also carries `seq`, its place in
 * the completion's stream (the resume point of `subscribe_completion`).
 */

export const STREAM_KINDS = ['completion', 'workflow', 'agent_status'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

/** Error codes of the protocol itself (stream errors use the completion's own codes). */
export enum MuxErrorCode {
  InvalidMessage = 'invalid_message',
  UnknownType = 'unknown_type',
  MessageTooLarge = 'message_too_large',
  DuplicateId = 'duplicate_id',
  UnknownCompletion = 'unknown_completion',
  TooManyCompletions = 'too_many_completions',
  TooManySubscriptions = 'too_many_subscriptions',
  TooManyConnections = 'too_many_connections',
  SlowConsumer = 'slow_consumer',
  /** Not authenticated (no token, a bad or expired one): the connection closes with 4401. */
  Unauthorized = 'unauthorized',
  /** The token does not allow this message (a permission, another user's resource). */
  Forbidden = 'forbidden',
}

/* The protocol's WebSocket close codes (each but 1001 follows an `error` message saying why). */
/** Shutdown, once the streams have drained (no `error` first). */
export const CLOSE_GOING_AWAY = 1001;
/** Over `max_connections` (sockets still authenticating are refused with it too, without an `error`). */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/** The peer fell too far behind (its send buffer passed the hard limit). */
export const CLOSE_SLOW_CONSUMER = 4008;
/** Authentication: no or bad credentials (expired, revoked), and refused ones. */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_FORBIDDEN = 4403;

export interface MuxError {
  code: string;
  message: string;
  param?: string;
  retryAfterMs?: number;
  /** The dead letter a failed completion was kept as. */
  deadLetterId?: string;
}

/**
 * Which completion a message is about: the server's id, the client's (`id`, only on its own completions, the
 * ones it started on this socket), and the event's sequence number in the completion's stream (from 1).
 */
export interface CompletionSubject {
  id?: string;
  completionId: string;
  seq: number;
}

export type ServerMessage =
  | { type: 'subscribed'; streams: StreamKind[]; workflows: string[]; completions: string[] }
  | (CompletionSubject & { type: 'content_chunk'; content: string })
  | (CompletionSubject & { type: 'thinking_status'; status: 'thinking'; content: string })
  | (CompletionSubject & {
      type: 'tool_call';
      tool: string;
      arguments: string;
      toolCallId: string;
      index: number;
    })
  | ErrorMessage
  | (CompletionSubject & {
      type: 'completed';
      usage: Usage;
      finishReason: FinishReason;
      model: string;
      provider: string;
    })
  | WorkflowMessage
  | { type: 'authenticated'; userId: string; expiresAt: string | null }
  | { type: 'pong' };

/**
 * An `error`: about a completion (the client's `id` for its own, `completionId` once the server has one, `seq`
 * when it is the completion's own last event), a followed workflow, or (none) the connection or one message.
 */
export interface ErrorMessage {
  type: 'error';
  id?: string;
  completionId?: string;
  seq?: number;
  workflowId?: string;
  error: MuxError;
}

/** What a workflow event is called on this protocol. */
export const WORKFLOW_MESSAGE_TYPES = {
  token_created: 'token_created',
  token_transitioned: 'workflow_transition',
  agent_started: 'agent_started',
  agent_progress: 'agent_progress',
  agent_completed: 'agent_completed',
  function_executed: 'function_executed',
  workflow_completed: 'workflow_completed',
  error: 'workflow_error',
} as const;
export type WorkflowMessageType =
  (typeof WORKFLOW_MESSAGE_TYPES)[keyof typeof WORKFLOW_MESSAGE_TYPES] | 'agent_error';

/**
 * A workflow event (subscribe_workflow, or the agent_status stream): which run, its place in the followed
 * stream (`sequence`, for `afterSequence`; 0 on agent_status), and the event's own fields (README "Workflows").
 */
export interface WorkflowMessage {
  type: WorkflowMessageType;
  workflowId: string;
  runId: string;
  sequence: number;
  tokenId?: string;
  place?: string;
  /** workflow_transition: the transition, its input places (`fromPlaces`, `fromPlace` joined by ','), output. */
  transition?: string;
  fromPlace?: string;
  fromPlaces?: string[];
  toPlace?: string;
  agentId?: string;
  executionId?: string;
  progress?: number;
  content?: string;
  tokenData?: unknown;
  /** Other fields of the event (usage, model, output, error...). */
  [field: string]: unknown;
}

/** One client message, checked by shape; a completion's request fields are validated like a REST body. */
export type ClientMessage =
  | { type: 'subscribe'; streams: StreamKind[] }
  | { type: 'unsubscribe'; streams: StreamKind[] }
  /** `providerKey`: the caller's own provider key(s), the grammar of the X-Provider-Key header. */
  | { type: 'completion'; id: string; request: Record<string, unknown>; providerKey?: string }
  | { type: 'cancel'; id: string }
  /** Follows any completion, by the server's id, from after `afterSequence` (0: from its first event). */
  | { type: 'subscribe_completion'; completionId: string; afterSequence?: number }
  | { type: 'unsubscribe_completion'; completionId: string }
  | { type: 'subscribe_workflow'; workflowId: string; afterSequence?: number }
  | { type: 'unsubscribe_workflow'; workflowId: string }
  | { type: 'auth'; token: string }
  | { type: 'ping' };

/**
 * What each client message needs of the token (README "Permissions"): a stream type and access, or nothing
 * (protocol housekeeping). `subscribe` needs read on each stream kind it names. A spec checks every message
 * type is listed.
 */
export const MESSAGE_ACCESS: Record<
  ClientMessage['type'],
  { type: 'completion' | 'workflow' | 'agent'; access: 'read' | 'write' } | 'per_stream' | 'none'
> = {
  completion: { type: 'completion', access: 'write' },
  cancel: 'none', // only the connection's own completions
  subscribe_completion: { type: 'completion', access: 'read' },
  unsubscribe_completion: 'none',
  subscribe: 'per_stream',
  unsubscribe: 'none',
  subscribe_workflow: { type: 'workflow', access: 'read' },
  unsubscribe_workflow: 'none',
  auth: 'none',
  ping: 'none',
};

/** The permission each `subscribe` stream kind needs. */
export const STREAM_KIND_ACCESS: Record<StreamKind, 'completion' | 'workflow' | 'agent'> = {
  completion: 'completion',
  workflow: 'workflow',
  agent_status: 'agent',
};

/** The largest token an `auth` message may carry. */
const MAX_TOKEN_LENGTH = 8_192;

const ID = /^[\w.:-]{1,128}$/;

/** A protocol-level refusal of one message; the connection carries on. */
export class MuxMessageError extends Error {
  constructor(
    readonly code: MuxErrorCode,
    message: string,
    readonly param?: string,
    /** The client's id of the completion it refuses (a `completion` or `cancel` message). */
    readonly id?: string,
  ) {
    super(message);
  }
}

/** Parses one text frame into a ClientMessage, or throws MuxMessageError naming what is wrong. */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MuxMessageError(MuxErrorCode.InvalidMessage, 'The message is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MuxMessageError(MuxErrorCode.InvalidMessage, 'A message must be a JSON object with a "type".');
  }
  const message = value as Record<string, unknown>;
  const type = message.type;
  switch (type) {
    case 'subscribe':
    case 'unsubscribe':
      return { type, streams: streamKinds(message.streams) };
    case 'completion': {
      const id = idField(message, 'id');
      const { providerKey } = message;
      if (providerKey !== undefined && typeof providerKey !== 'string')
        throw new MuxMessageError(
          MuxErrorCode.InvalidMessage,
          "'providerKey' must be a string: a key, or provider=key pairs separated by commas.",
          'providerKey',
          id,
        );
      const request: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(message))
        if (key !== 'type' && key !== 'id' && key !== 'providerKey') request[key] = field;
      return providerKey === undefined ? { type, id, request } : { type, id, request, providerKey };
    }
    case 'cancel':
      return { type, id: idField(message, 'id') };
    case 'subscribe_completion': {
      const completionId = idField(message, 'completionId');
      const after = afterSequence(message);
      return after === undefined ? { type, completionId } : { type, completionId, afterSequence: after };
    }
    case 'unsubscribe_completion':
      return { type, completionId: idField(message, 'completionId') };
    case 'subscribe_workflow': {
      const workflowId = idField(message, 'workflowId');
      const after = afterSequence(message);
      return after === undefined ? { type, workflowId } : { type, workflowId, afterSequence: after };
    }
    case 'unsubscribe_workflow':
      return { type, workflowId: idField(message, 'workflowId') };
    case 'ping':
      return { type };
    case 'auth': {
      const token = message.token;
      if (typeof token === 'string' && token.length > 0 && token.length <= MAX_TOKEN_LENGTH)
        return { type, token };
      throw new MuxMessageError(MuxErrorCode.InvalidMessage, "'token' must be a JWT string.", 'token');
    }
    default:
      throw new MuxMessageError(
        MuxErrorCode.UnknownType,
        typeof type === 'string'
          ? `Unknown message type '${type.slice(0, 64)}'.`
          : 'A message must have a string "type".',
        'type',
      );
  }
}

function idField(message: Record<string, unknown>, name: string): string {
  const value = message[name];
  if (typeof value === 'string' && ID.test(value)) return value;
  throw new MuxMessageError(
    MuxErrorCode.InvalidMessage,
    `'${name}' must be a string of 1 to 128 letters, digits, '_', '-', '.' or ':'.`,
    name,
  );
}

/** A follow's optional resume point. */
function afterSequence(message: Record<string, unknown>): number | undefined {
  const after = message.afterSequence;
  if (after === undefined) return undefined;
  if (typeof after === 'number' && Number.isSafeInteger(after) && after >= 0) return after;
  throw new MuxMessageError(
    MuxErrorCode.InvalidMessage,
    "'afterSequence' must be a non-negative integer.",
    'afterSequence',
  );
}

function streamKinds(value: unknown): StreamKind[] {
  if (Array.isArray(value) && value.length > 0 && value.every(isStreamKind)) return value;
  throw new MuxMessageError(
    MuxErrorCode.InvalidMessage,
    `'streams' must be a non-empty array of ${STREAM_KINDS.join(', ')}.`,
    'streams',
  );
}

function isStreamKind(value: unknown): value is StreamKind {
  return (STREAM_KINDS as readonly unknown[]).includes(value);
}

/** A workflow bus event as this protocol's message (`agentStatus`: from the agent_status stream). */
export function toWorkflowMessage(
  { seq, event }: BusEnvelope<WorkflowBusEvent>,
  agentStatus = false,
): WorkflowMessage {
  const data = event.data ?? {};
  const base = { workflowId: event.workflowId, runId: event.runId ?? '', sequence: seq };
  const located = {
    ...(event.tokenId === undefined ? {} : { tokenId: event.tokenId }),
    ...(event.place === undefined ? {} : { place: event.place }),
    ...(event.agentId === undefined ? {} : { agentId: event.agentId }),
  };
  switch (event.type) {
    case 'token_created':
      return { type: 'token_created', ...base, ...located, tokenData: data.token_data };
    case 'token_transitioned': {
      const from = Array.isArray(data.from) ? (data.from as string[]) : [];
      return {
        type: 'workflow_transition',
        ...base,
        transition: data.transition as string,
        fromPlace: from.join(','),
        fromPlaces: from,
        toPlace: (data.to as string | undefined) ?? event.place ?? '',
        tokenId: event.tokenId ?? '',
        consumed: data.consumed,
        tokenData: data.token_data,
      };
    }
    case 'error': {
      const type = agentStatus ? 'agent_error' : 'workflow_error';
      return leading(type, data, base, located);
    }
    case 'agent_started':
    case 'agent_progress':
    case 'agent_completed':
    case 'function_executed':
    case 'workflow_completed': {
      const { token_data: tokenData, ...rest } = data;
      const type = WORKFLOW_MESSAGE_TYPES[event.type];
      return leading(type, rest, base, located, tokenData === undefined ? {} : { tokenData });
    }
  }
}

/** A message whose `type` comes first (as in every message); the event's own fields cannot override it or the ids. */
function leading(type: WorkflowMessageType, ...parts: Array<Record<string, unknown>>): WorkflowMessage {
  const message = { type } as WorkflowMessage;
  for (const part of parts) Object.assign(message, part);
  message.type = type;
  return message;
}
