import { StreamErrorCode } from '../contract/error-code';
import type { BusEnvelope } from '../events/bus-subscription';
import { SEVERITIES, SYSTEM_EVENT_TYPES, type SystemEvent as BusSystemEvent } from '../system/system-event';
import {
  AGENT_EVENT_TYPES,
  type AgentBusEvent,
  WORKFLOW_EVENT_TYPES,
  type WorkflowBusEvent,
} from '../contract/topics';
import type { ServedEvent } from './completion-subscription';
import { toAgentEvent, toCompletionEvent, toSystemEvent, toWorkflowEvent, usageOf } from './event-mappers';
import { CompletionEventType } from './types/completion.types';
import { Severity, SystemEventType } from './types/system.types';
import { AgentEventType, WorkflowEventType } from './types/workflow.types';

const AT = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const envelope = <T>(event: T, seq = 7): BusEnvelope<T> => ({ seq, at: AT, event });
const usage = { promptTokens: 10, completionTokens: 20, totalTokens: 30 };

const completion = (event: ServedEvent, seq = 7) => toCompletionEvent(envelope(event, seq));

describe('toCompletionEvent', () => {
  it('sets the id, sequence and timestamp from the envelope', () => {
    const mapped = completion({ type: 'content_chunk', completionId: 'c1', content: 'Hi', index: 0 }, 42);
    expect(mapped.completionId).toBe('c1');
    expect(mapped.sequence).toBe(42);
    expect(mapped.timestamp).toBeInstanceOf(Date);
    expect(mapped.timestamp.getTime()).toBe(AT);
  });

  it('maps content_chunk and thinking to their content', () => {
    expect(completion({ type: 'content_chunk', completionId: 'c1', content: 'Hi', index: 0 })).toEqual({
      eventType: CompletionEventType.CONTENT_CHUNK,
      completionId: 'c1',
      sequence: 7,
      timestamp: new Date(AT),
      content: 'Hi',
      usage: null,
      metadata: null,
    });
    expect(completion({ type: 'thinking', completionId: 'c1', content: 'Hmm' })).toEqual({
      eventType: CompletionEventType.THINKING,
      completionId: 'c1',
      sequence: 7,
      timestamp: new Date(AT),
      content: 'Hmm',
      usage: null,
      metadata: null,
    });
  });

  it('maps a tool_call delta into metadata', () => {
    expect(
      completion({
        type: 'tool_call',
        completionId: 'c1',
        index: 1,
        toolCallId: 'call_1',
        name: 'lookup',
        argumentsDelta: '{"q":',
      }),
    ).toMatchObject({
      eventType: CompletionEventType.TOOL_CALL,
      content: null,
      usage: null,
      metadata: { index: 1, toolCallId: 'call_1', name: 'lookup', argumentsDelta: '{"q":' },
    });
  });

  it('maps a tool_result to its content and call id', () => {
    expect(
      completion({ type: 'tool_result', completionId: 'c1', toolCallId: 'call_1', content: '42' }),
    ).toMatchObject({
      eventType: CompletionEventType.TOOL_RESULT,
      content: '42',
      usage: null,
      metadata: { toolCallId: 'call_1' },
    });
  });

  it('maps completed to usage and metadata {finishReason, model, provider}', () => {
    expect(
      completion({
        type: 'completed',
        completionId: 'c1',
        finishReason: 'stop',
        usage: { ...usage, reasoningTokens: 5 },
        model: 'openai/gpt',
        provider: 'openai',
      }),
    ).toEqual({
      eventType: CompletionEventType.COMPLETED,
      completionId: 'c1',
      sequence: 7,
      timestamp: new Date(AT),
      content: null,
      usage: { ...usage, reasoningTokens: 5 },
      metadata: { finishReason: 'stop', model: 'openai/gpt', provider: 'openai' },
    });
  });

  it('adds the splices of a continued stream to the completed metadata', () => {
    const splices = [{ at: 120, from: 'openai/gpt', reason: StreamErrorCode.ConnectionLost }];
    const mapped = completion({
      type: 'completed',
      completionId: 'c1',
      finishReason: 'length',
      usage,
      splices,
      model: 'anthropic/claude',
      provider: 'anthropic',
    });
    expect(mapped.metadata).toEqual({
      finishReason: 'length',
      model: 'anthropic/claude',
      provider: 'anthropic',
      splices,
    });
    expect(mapped.usage).toEqual({ ...usage, reasoningTokens: null });
  });

  it('leaves model and provider out of a completed event that names none', () => {
    const mapped = completion({ type: 'completed', completionId: 'c1', finishReason: 'tool_calls', usage });
    expect(mapped.metadata).toEqual({ finishReason: 'tool_calls' });
  });

  it('maps error to metadata.error {code, message, retryable} and the provider that failed', () => {
    expect(
      completion({
        type: 'error',
        completionId: 'c1',
        error: {
          code: StreamErrorCode.RateLimitExceeded,
          message: 'Slow down.',
          retryable: true,
          retryAfterMs: 2_000,
          param: 'model',
        },
        model: 'openai/gpt',
        provider: 'openai',
      }),
    ).toEqual({
      eventType: CompletionEventType.ERROR,
      completionId: 'c1',
      sequence: 7,
      timestamp: new Date(AT),
      content: null,
      usage: null,
      metadata: {
        error: { code: 'rate_limit_exceeded', message: 'Slow down.', retryable: true, retryAfterMs: 2_000 },
        model: 'openai/gpt',
        provider: 'openai',
      },
    });
  });

  it('names the dead letter in metadata.error', () => {
    const mapped = completion({
      type: 'error',
      completionId: 'c1',
      error: {
        code: StreamErrorCode.ProviderError,
        message: 'Failed.',
        retryable: true,
        deadLetterId: 'dl-0123456789abcdef0123456789abcdef',
      },
    });
    expect(mapped.metadata).toEqual({
      error: {
        code: 'provider_error',
        message: 'Failed.',
        retryable: true,
        deadLetterId: 'dl-0123456789abcdef0123456789abcdef',
      },
    });
  });

  it('leaves retryAfterMs, model and provider out of an error that has none', () => {
    const mapped = completion({
      type: 'error',
      completionId: 'c1',
      error: { code: StreamErrorCode.Cancelled, message: 'Cancelled.', retryable: false },
    });
    expect(mapped.metadata).toEqual({
      error: { code: 'cancelled', message: 'Cancelled.', retryable: false },
    });
  });
});

describe('toWorkflowEvent', () => {
  it('upper-cases the type and carries every field', () => {
    const event: WorkflowBusEvent = {
      type: 'token_transitioned',
      workflowId: 'wf',
      runId: 'run',
      tokenId: 'tok',
      place: 'review',
      agentId: 'agent',
      data: { from: 'draft' },
    };
    expect(toWorkflowEvent(envelope(event, 3))).toEqual({
      eventType: WorkflowEventType.TOKEN_TRANSITIONED,
      workflowId: 'wf',
      runId: 'run',
      sequence: 3,
      tokenId: 'tok',
      place: 'review',
      agentId: 'agent',
      data: { from: 'draft' },
      timestamp: new Date(AT),
    });
  });

  it('gives null for absent optional fields', () => {
    expect(
      toWorkflowEvent(envelope<WorkflowBusEvent>({ type: 'workflow_completed', workflowId: 'wf' })),
    ).toEqual({
      eventType: WorkflowEventType.WORKFLOW_COMPLETED,
      workflowId: 'wf',
      runId: null,
      sequence: 7,
      tokenId: null,
      place: null,
      agentId: null,
      data: null,
      timestamp: new Date(AT),
    });
  });

  it('maps every workflow event type to a GraphQL enum value', () => {
    const mapped = WORKFLOW_EVENT_TYPES.map(
      (type) => toWorkflowEvent(envelope<WorkflowBusEvent>({ type, workflowId: 'wf' })).eventType,
    );
    expect(new Set(mapped)).toEqual(new Set(Object.values(WorkflowEventType)));
  });
});

describe('toAgentEvent', () => {
  it('upper-cases the type and carries every field, usage as GraphQL usage', () => {
    const event: AgentBusEvent = {
      type: 'tool_call',
      executionId: 'ex',
      agentId: 'agent',
      workflowId: 'wf',
      runId: 'run',
      content: 'x',
      progress: 0.5,
      usage: { ...usage, reasoningTokens: 2 },
      data: { name: 'lookup' },
    };
    expect(toAgentEvent(envelope(event, 9))).toEqual({
      eventType: AgentEventType.TOOL_CALL,
      executionId: 'ex',
      agentId: 'agent',
      workflowId: 'wf',
      runId: 'run',
      sequence: 9,
      content: 'x',
      progress: 0.5,
      usage: { ...usage, reasoningTokens: 2 },
      data: { name: 'lookup' },
      timestamp: new Date(AT),
    });
  });

  it('maps every agent event type to a GraphQL enum value', () => {
    const mapped = AGENT_EVENT_TYPES.map(
      (type) => toAgentEvent(envelope<AgentBusEvent>({ type, executionId: 'ex', agentId: 'a' })).eventType,
    );
    expect(new Set(mapped)).toEqual(new Set(Object.values(AgentEventType)));
  });

  it('gives null for absent optional fields, and keeps a progress of 0', () => {
    expect(
      toAgentEvent(envelope<AgentBusEvent>({ type: 'started', executionId: 'ex', agentId: 'a' })),
    ).toEqual({
      eventType: AgentEventType.STARTED,
      executionId: 'ex',
      agentId: 'a',
      workflowId: null,
      runId: null,
      sequence: 7,
      content: null,
      progress: null,
      usage: null,
      data: null,
      timestamp: new Date(AT),
    });
    expect(
      toAgentEvent(
        envelope<AgentBusEvent>({ type: 'progress', executionId: 'ex', agentId: 'a', progress: 0 }),
      ).progress,
    ).toBe(0);
  });
});

describe('toSystemEvent', () => {
  it('maps every system event type and severity to a GraphQL enum value', () => {
    const types = SYSTEM_EVENT_TYPES.map(
      (type) => toSystemEvent(envelope({ type, severity: 'info', message: 'm', node: 'n' }, 0)).eventType,
    );
    expect(new Set(types)).toEqual(new Set(Object.values(SystemEventType)));
    const severities = SEVERITIES.map(
      (severity) =>
        toSystemEvent(envelope({ type: 'node_started', severity, message: 'm', node: 'n' }, 0)).severity,
    );
    expect(severities).toEqual([Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL]);
  });

  it('upper-cases type and severity, names the node, and carries provider, model and data', () => {
    const event: BusSystemEvent = {
      type: 'circuit_state_changed',
      severity: 'warning',
      message: 'Circuit of gpt on openai is half-open.',
      node: 'node-1',
      provider: 'openai',
      model: 'gpt',
      data: { from: 'open', to: 'half_open' },
    };
    expect(toSystemEvent(envelope(event, 0))).toEqual({
      eventType: SystemEventType.CIRCUIT_STATE_CHANGED,
      severity: Severity.WARNING,
      message: 'Circuit of gpt on openai is half-open.',
      nodeId: 'node-1',
      provider: 'openai',
      model: 'gpt',
      data: { from: 'open', to: 'half_open' },
      timestamp: new Date(AT),
    });
  });

  it('gives null for absent optional fields', () => {
    const event: BusSystemEvent = { type: 'node_started', severity: 'info', message: 'up', node: 'n' };
    expect(toSystemEvent(envelope(event, 0))).toEqual({
      eventType: SystemEventType.NODE_STARTED,
      severity: Severity.INFO,
      message: 'up',
      nodeId: 'n',
      provider: null,
      model: null,
      data: null,
      timestamp: new Date(AT),
    });
  });
});

describe('usageOf', () => {
  it('gives null reasoningTokens when not reported, and keeps 0', () => {
    expect(usageOf(usage)).toEqual({ ...usage, reasoningTokens: null });
    expect(usageOf({ ...usage, reasoningTokens: 0 }).reasoningTokens).toBe(0);
  });
});
