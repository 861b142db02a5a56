import pino from 'pino';
import { MetricsService } from '../../analytics/metrics.service';
import { loadConfig } from '../../config/config.loader';
import { OPEN_PRINCIPAL, type Principal } from '../../contract/principal';
import type { StreamEvent } from '../../contract/stream-event';
import type {
  CompletionCaller,
  CompletionService,
  CompletionStream,
} from '../../streaming/completion.service';
import { waitFor } from '../../common/testing/wait-for';
import { ConnectionState, type MuxSession } from './connection-state';
import { FakeConnection } from './testing/fake-connection';
import { CompletionPump } from './completion-pump';

class FakeSession implements MuxSession {
  constructor(readonly principal: Principal) {}
  reauthenticate(): never {
    throw new Error('not in these tests');
  }
  hit(): Promise<void> {
    return Promise.resolve();
  }
  acquireStream(): Promise<() => void> {
    return Promise.resolve(() => undefined);
  }
}

const EVENTS: StreamEvent[] = [
  { type: 'thinking', completionId: 'x', content: 'hmm' },
  { type: 'content_chunk', completionId: 'x', content: 'Hi', index: 0 },
  { type: 'tool_call', completionId: 'x', index: 0, toolCallId: 't', name: 'f', argumentsDelta: '{}' },
  {
    type: 'completed',
    completionId: 'x',
    finishReason: 'stop',
    usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 },
  },
];

/** A pump over a completion service that records each start's context and plays EVENTS. */
function setup(principal?: Principal) {
  const config = loadConfig({ env: {} });
  const contexts: CompletionCaller[] = [];
  const completions = {
    start: (_request: unknown, ctx: CompletionCaller): CompletionStream => {
      contexts.push(ctx);
      return {
        completionId: 'x',
        created: 0,
        model: 'simulated/echo',
        provider: 'simulated',
        async *[Symbol.asyncIterator]() {
          for (const event of EVENTS) yield await Promise.resolve(event);
        },
      };
    },
  } as unknown as CompletionService;
  const connection = new FakeConnection();
  const state = new ConnectionState(
    'ws-1',
    connection,
    principal && new FakeSession(principal),
    { budget: 1024, meter: new MetricsService(config).meter('ws') },
    () => undefined,
  );
  const pump = new CompletionPump(completions, 4, pino({ level: 'silent' }));
  return { connection, state, pump, contexts };
}

const body = { model: 'simulated/echo', messages: [{ role: 'user', content: 'x' }] };

describe('CompletionPump', () => {
  it('forwards every event tagged with the completion id, then forgets the completion', async () => {
    const { connection, state, pump, contexts } = setup();
    pump.start(state, 'a', body);
    await waitFor('the completion to end', () => state.completions.size === 0, 1_000);
    expect(connection.sent.map((m) => m.type)).toEqual([
      'thinking_status',
      'content_chunk',
      'tool_call',
      'completed',
    ]);
    expect(connection.sent.every((m) => m.completionId === 'a')).toBe(true);
    expect(connection.sent.at(-1)).toMatchObject({ model: 'simulated/echo', provider: 'simulated' });
    expect(contexts[0]).toMatchObject({ requestId: 'ws-1:a', protocol: 'ws' });
    expect(contexts[0]?.principal).toBeUndefined();
    expect(contexts[0]?.providerKey).toBeUndefined();
  });

  it("passes the message's providerKey, named as its field for errors", async () => {
    const { state, pump, contexts } = setup();
    pump.start(state, 'a', body, 'openai=sk-1');
    await waitFor('the completion to end', () => state.completions.size === 0, 1_000);
    expect(contexts[0]).toMatchObject({ providerKey: 'openai=sk-1', providerKeyField: 'providerKey' });
  });

  // CompletionService applies the principal's claim and allowed event types (completion.service.spec.ts).
  it('starts a completion for the principal: its sanitization claim and allowed event types', async () => {
    const principal: Principal = {
      ...OPEN_PRINCIPAL,
      sanitize: true,
      eventTypes: new Set(['content_chunk']),
    };
    const { connection, state, pump, contexts } = setup(principal);
    pump.start(state, 'a', body);
    await waitFor('the completion to end', () => state.completions.size === 0, 1_000);
    // The stream comes filtered already: the pump forwards what it gets.
    expect(connection.sent.map((m) => m.type)).toEqual([
      'thinking_status',
      'content_chunk',
      'tool_call',
      'completed',
    ]);
    expect(contexts[0]?.principal).toBe(principal);
  });
});
