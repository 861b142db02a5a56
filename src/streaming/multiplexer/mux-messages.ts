import type { FinishReason, Usage } from '../stream-event';

/**
 * The multiplexed stream protocol (`/ws/stream`): raw JSON messages with a `type`. Every server message about a
 * completion carries the `completionId` the client chose, so many completions share one socket.
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
}

export interface MuxError {
  code: string;
  message: string;
  param?: string;
  retryAfterMs?: number;
}

export type ServerMessage =
  | { type: 'subscribed'; streams: StreamKind[]; workflows: string[] }
  | { type: 'content_chunk'; completionId: string; content: string }
  | { type: 'thinking_status'; completionId: string; status: 'thinking'; content: string }
  | {
      type: 'tool_call';
      completionId: string;
      tool: string;
      arguments: string;
      toolCallId: string;
      index: number;
    }
  | { type: 'error'; completionId?: string; error: MuxError }
  | {
      type: 'completed';
      completionId: string;
      usage: Usage;
      finishReason: FinishReason;
      model: string;
      provider: string;
    }
  | { type: 'workflow_transition'; workflowId: string; fromPlace: string; toPlace: string; tokenId: string }
  | { type: 'agent_progress'; agentId: string; workflowId: string; progress: number; content: string }
  | { type: 'pong' };

/** One client message, checked by shape; a completion's request fields are validated like a REST body. */
export type ClientMessage =
  | { type: 'subscribe'; streams: StreamKind[] }
  | { type: 'unsubscribe'; streams: StreamKind[] }
  | { type: 'completion'; id: string; request: Record<string, unknown> }
  | { type: 'cancel'; id: string }
  | { type: 'subscribe_workflow'; workflowId: string }
  | { type: 'unsubscribe_workflow'; workflowId: string }
  | { type: 'ping' };

const ID = /^[\w.:-]{1,128}$/;

/** A protocol-level refusal of one message; the connection carries on. */
export class MuxMessageError extends Error {
  constructor(
    readonly code: MuxErrorCode,
    message: string,
    readonly param?: string,
    readonly completionId?: string,
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
      const request: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(message))
        if (key !== 'type' && key !== 'id') request[key] = field;
      return { type, id, request };
    }
    case 'cancel':
      return { type, id: idField(message, 'id') };
    case 'subscribe_workflow':
    case 'unsubscribe_workflow':
      return { type, workflowId: idField(message, 'workflowId') };
    case 'ping':
      return { type };
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
