import type { BusEnvelope } from '../events/bus-subscription';
import type { SystemEvent as BusSystemEvent } from '../system/system-event';
import type { AgentBusEvent, WorkflowBusEvent } from '../contract/topics';
import type { Usage as UsageValue } from '../contract/stream-event';
import type { CompletionEnvelope, ServedEvent } from './completion-subscription';
import { CompletionEventType, type CompletionStreamEvent } from './types/completion.types';
import type { Severity, SystemEvent, SystemEventType } from './types/system.types';
import type { Usage } from './types/usage.type';
import {
  type AgentEventType,
  type AgentStreamEvent,
  type WorkflowEventType,
  type WorkflowStreamEvent,
} from './types/workflow.types';

/** Hub and bus events -> GraphQL objects. Called per event: plain objects, no validation. */

export function toCompletionEvent({ seq, at, event }: CompletionEnvelope): CompletionStreamEvent {
  switch (event.type) {
    case 'content_chunk':
      return completionEvent(event, seq, at, CompletionEventType.CONTENT_CHUNK, event.content, null);
    case 'thinking':
      return completionEvent(event, seq, at, CompletionEventType.THINKING, event.content, null);
    case 'tool_call':
      return completionEvent(event, seq, at, CompletionEventType.TOOL_CALL, null, {
        index: event.index,
        toolCallId: event.toolCallId,
        name: event.name,
        argumentsDelta: event.argumentsDelta,
      });
    case 'tool_result':
      return completionEvent(event, seq, at, CompletionEventType.TOOL_RESULT, event.content, {
        toolCallId: event.toolCallId,
      });
    case 'completed':
      return completionEvent(
        event,
        seq,
        at,
        CompletionEventType.COMPLETED,
        null,
        {
          finishReason: event.finishReason,
          ...served(event),
          ...(event.splices ? { splices: event.splices } : {}),
        },
        usageOf(event.usage),
      );
    case 'error':
      return completionEvent(event, seq, at, CompletionEventType.ERROR, null, {
        error: {
          code: event.error.code,
          message: event.error.message,
          retryable: event.error.retryable,
          ...(event.error.retryAfterMs === undefined ? {} : { retryAfterMs: event.error.retryAfterMs }),
          ...(event.error.deadLetterId === undefined ? {} : { deadLetterId: event.error.deadLetterId }),
        },
        ...served(event),
      });
  }
}

/** Every completion event in one shape (one hidden class: the per-event path stays monomorphic). */
function completionEvent(
  event: ServedEvent,
  sequence: number,
  at: number,
  eventType: CompletionEventType,
  content: string | null,
  metadata: Record<string, unknown> | null,
  usage: Usage | null = null,
): CompletionStreamEvent {
  return {
    completionId: event.completionId,
    sequence,
    timestamp: new Date(at),
    eventType,
    content,
    usage,
    metadata,
  };
}

export function toWorkflowEvent({ seq, at, event }: BusEnvelope<WorkflowBusEvent>): WorkflowStreamEvent {
  return {
    eventType: event.type.toUpperCase() as WorkflowEventType,
    workflowId: event.workflowId,
    runId: event.runId ?? null,
    sequence: seq,
    tokenId: event.tokenId ?? null,
    place: event.place ?? null,
    agentId: event.agentId ?? null,
    data: event.data ?? null,
    timestamp: new Date(at),
  };
}

export function toAgentEvent({ seq, at, event }: BusEnvelope<AgentBusEvent>): AgentStreamEvent {
  return {
    eventType: event.type.toUpperCase() as AgentEventType,
    executionId: event.executionId,
    agentId: event.agentId,
    workflowId: event.workflowId ?? null,
    runId: event.runId ?? null,
    sequence: seq,
    content: event.content ?? null,
    progress: event.progress ?? null,
    usage: event.usage ? usageOf(event.usage) : null,
    data: event.data ?? null,
    timestamp: new Date(at),
  };
}

export function toSystemEvent({ at, event }: BusEnvelope<BusSystemEvent>): SystemEvent {
  return {
    eventType: event.type.toUpperCase() as SystemEventType,
    severity: event.severity.toUpperCase() as Severity,
    message: event.message,
    nodeId: event.node,
    provider: event.provider ?? null,
    model: event.model ?? null,
    data: event.data ?? null,
    timestamp: new Date(at),
  };
}

export function usageOf(usage: UsageValue): Usage {
  return {
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    totalTokens: usage.totalTokens,
    reasoningTokens: usage.reasoningTokens ?? null,
  };
}

function served(event: ServedEvent): Record<string, string> {
  return 'model' in event ? { model: event.model, provider: event.provider } : {};
}
