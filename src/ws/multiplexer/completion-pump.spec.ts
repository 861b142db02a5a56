import pino from 'pino';
import { MetricsService } from '../../analytics/metrics.service';
import { loadConfig } from '../../config/config.loader';
import { StreamErrorCode } from '../../contract/error-code';
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
import { FakeHub, followOf } from './testing/fake-hub';
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

/** Plays EVENTS, each after a tick. */
async function* played(): AsyncGenerator<StreamEvent> {
  for (const event of EVENTS) yield await Promise.resolve(event);
}

/**
 * A pump over a completion service that records each start's context and plays `events` (EVENTS by default)
 * as completion `chatcmpl-x`, on a fake hub.
 */
function setup(principal?: Principal, events: () => AsyncIterable<StreamEvent> = played) {
  const config = loadConfig({ env: {} });
  const contexts: CompletionCaller[] = [];
  const completions = {
    start: (_request: unknown, ctx: CompletionCaller): CompletionStream => {
      contexts.push(ctx);
      return followOf('chatcmpl-x', events());
    },
  } as unknown as CompletionService;
  const hub = new FakeHub();
  const connection = new FakeConnection();
  const state = new ConnectionState(
    'ws-1',
    connection,
    principal && new FakeSession(principal),
    { budget: 1024, meter: new MetricsService(config).meter('ws') },
    () => undefined,
  );
  const pump = new CompletionPump(completions, hub, 4, pino({ level: 'silent' }));
  return { connection, state, pump, contexts, hub };
}

const body = { model: 'simulated/echo', messages: [{ role: 'user', content: 'x' }] };

describe('CompletionPump', () => {
  it("forwards every event with the client's id, the server's completionId and seq, then forgets it", async () => {
    const { connection, state, pump, contexts } = setup();
    pump.start(state, 'a', body);
    await waitFor('the completion to end', () => state.completions.size === 0, 1_000);
    expect(connection.sent).toEqual([
      {
        type: 'thinking_status',
        id: 'a',
        completionId: 'chatcmpl-x',
        seq: 1,
        status: 'thinking',
        content: 'hmm',
      },
      { type: 'content_chunk', id: 'a', completionId: 'chatcmpl-x', seq: 2, content: 'Hi' },
      {
        type: 'tool_call',
        id: 'a',
        completionId: 'chatcmpl-x',
        seq: 3,
        tool: 'f',
        arguments: '{}',
        toolCallId: 't',
        index: 0,
      },
      {
        type: 'completed',
        id: 'a',
        completionId: 'chatcmpl-x',
        seq: 4,
        usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 },
        finishReason: 'stop',
        model: 'simulated/echo',
        provider: 'simulated',
      },
    ]);
    expect(state.own.size).toBe(0);
    // Started for resuming: the connection closing detaches it, it does not cancel it.
    expect(contexts[0]).toMatchObject({ requestId: 'ws-1:a', protocol: 'ws', detach: 'resume' });
    expect(contexts[0]?.signal).toBeInstanceOf(AbortSignal);
    expect(contexts[0]?.principal).toBeUndefined();
    expect(contexts[0]?.owner).toBeUndefined();
    expect(contexts[0]?.providerKey).toBeUndefined();
  });

  it('writes a content chunk from its template byte for byte as JSON.stringify would', async () => {
    const text = 'quote " backslash \\ newline \n unicode \u2028 é 🎉';
    const { connection, state, pump } = setup(undefined, async function* () {
      await Promise.resolve();
      yield { type: 'content_chunk', completionId: 'x', content: text, index: 0 };
    });
    const raw: string[] = [];
    const send = connection.send.bind(connection);
    connection.send = (line: string) => {
      raw.push(line);
      send(line);
    };
    pump.start(state, 'a"b', body);
    await waitFor('the chunk', () => raw.length === 1, 1_000);
    expect(raw[0]).toBe(
      JSON.stringify({ type: 'content_chunk', id: 'a"b', completionId: 'chatcmpl-x', seq: 1, content: text }),
    );
  });

  it('cancel cancels the started completion in the hub; its end comes through the stream', async () => {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const { connection, state, pump, hub } = setup(undefined, async function* () {
      yield { type: 'content_chunk', completionId: 'x', content: 'Hi', index: 0 };
      await ended;
      yield {
        type: 'error',
        completionId: 'x',
        error: {
          code: StreamErrorCode.Cancelled,
          message: 'The completion was cancelled.',
          retryable: false,
        },
      };
    });
    hub.onCancel = () => end();
    pump.start(state, 'a', body);
    await waitFor('the first chunk', () => connection.sent.length === 1, 1_000);
    pump.cancel(state, 'a');
    await waitFor('the completion to end', () => state.completions.size === 0, 1_000);
    expect(hub.cancelled).toEqual(['chatcmpl-x']);
    expect(connection.sent.at(-1)).toMatchObject({
      type: 'error',
      id: 'a',
      completionId: 'chatcmpl-x',
      seq: 2,
      error: { code: 'cancelled' },
    });
    expect(() => pump.cancel(state, 'a')).toThrow(/No live completion/);
  });

  it('does not start a completion cancelled while it was admitted, and says so', async () => {
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const { connection, state, pump, contexts, hub } = setup({
      ...OPEN_PRINCIPAL,
      anonymous: false,
      userId: 'u',
    });
    const session = state.session as FakeSession;
    session.hit = () => admitted;
    pump.start(state, 'a', body);
    pump.cancel(state, 'a');
    admit();
    await waitFor('the refusal', () => connection.sent.length === 1, 1_000);
    expect(connection.sent).toEqual([
      { type: 'error', id: 'a', error: { code: 'cancelled', message: expect.any(String) as string } },
    ]);
    expect(contexts).toHaveLength(0);
    expect(hub.cancelled).toEqual([]);
    expect(state.completions.size).toBe(0);
  });

  it('detaches (aborts the signal of) every completion when the connection goes, and closes their followers', async () => {
    const { state, pump, contexts } = setup(undefined, async function* () {
      yield { type: 'content_chunk', completionId: 'x', content: 'Hi', index: 0 };
      await new Promise(() => undefined);
    });
    pump.start(state, 'a', body);
    await waitFor('started', () => state.own.size === 1, 1_000);
    state.closed = true;
    pump.abortAll(state);
    expect(contexts[0]?.signal?.aborted).toBe(true);
    expect(state.completions.size).toBe(0);
    expect(state.own.size).toBe(0);
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
    const { connection, state, pump, contexts } = setup({ ...principal, anonymous: false, userId: 'u' });
    pump.start(state, 'a', body);
    await waitFor('the completion to end', () => state.completions.size === 0, 1_000);
    // The stream comes filtered already: the pump forwards what it gets.
    expect(connection.sent.map((m) => m.type)).toEqual([
      'thinking_status',
      'content_chunk',
      'tool_call',
      'completed',
    ]);
    expect(contexts[0]?.principal).toMatchObject({ sanitize: true, userId: 'u' });
    // Owned by its user: only they (or an all-scoped token) may follow it by its completionId.
    expect(contexts[0]?.owner).toBe('u');
  });
});
