import pino from 'pino';
import { MetricsService } from '../../analytics/metrics.service';
import { loadConfig } from '../../config/config.loader';
import type { CompletionService, CompletionStream } from '../completion.service';
import type { StreamEvent } from '../stream-event';
import { CLOSE_SLOW_CONSUMER, type MuxConnection, StreamMultiplexer } from './stream-multiplexer.service';

/** A socket whose send buffer the test sets by hand. */
class FakeConnection implements MuxConnection {
  readonly sent: Array<Record<string, unknown>> = [];
  bufferedAmount = 0;
  closedWith?: number;
  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close(code: number): void {
    this.closedWith = code;
  }
  whenWritable(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A completion that yields a chunk whenever it is read, until aborted. */
function endless(signal: AbortSignal): CompletionStream {
  async function* events(): AsyncGenerator<StreamEvent> {
    for (let i = 0; !signal.aborted; i++) {
      yield { type: 'content_chunk', completionId: 'x', content: `w${i} `, index: 0 };
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return { completionId: 'x', created: 0, model: 'm', provider: 'p', [Symbol.asyncIterator]: events };
}

function multiplexer() {
  const config = loadConfig({
    env: {},
    overrides: [{ streaming: { protocols: { websocket: { message_buffer_size: '1KB' } } } }],
  });
  const completions = {
    start: (_request: unknown, ctx: { signal: AbortSignal }) => endless(ctx.signal),
  } as unknown as CompletionService;
  return new StreamMultiplexer(config, completions, new MetricsService(config), pino({ level: 'silent' }));
}

const chunks = (c: FakeConnection) => c.sent.filter((m) => m.type === 'content_chunk').length;
const tick = (ms = 30) => new Promise((resolve) => setTimeout(resolve, ms));

/** A connection with one endless completion running on it. */
async function oneCompletion() {
  const mux = multiplexer();
  const connection = new FakeConnection();
  const id = mux.open(connection)!;
  const message = { type: 'completion', id: 'a', model: 'echo', messages: [{ role: 'user', content: 'x' }] };
  mux.receive(id, JSON.stringify(message), false);
  await tick();
  return { mux, connection, id };
}

describe('StreamMultiplexer backpressure', () => {
  it('pauses a completion while the buffer is over budget, resumes when it drains', async () => {
    const { mux, connection, id } = await oneCompletion();
    expect(chunks(connection)).toBeGreaterThan(0);

    connection.bufferedAmount = 2048; // over the 1 KB budget, under the hard limit
    await tick();
    const paused = chunks(connection);
    await tick(60);
    expect(chunks(connection)).toBe(paused);

    connection.bufferedAmount = 0;
    await tick();
    expect(chunks(connection)).toBeGreaterThan(paused);
    mux.close(id);
    expect(mux.stats()).toEqual({ connections: 0, completions: 0, workflows: 0, agentSubscribers: 0 });
  });

  it('closes a connection past the hard limit with slow_consumer, aborting its completions', async () => {
    const { mux, connection, id } = await oneCompletion();
    connection.bufferedAmount = 2 * 1024; // over the 1 KB budget: the completion pauses...
    await tick();
    connection.bufferedAmount = 5 * 1024; // ...and stays paused past 4 x the budget, sending nothing
    await tick();
    expect(connection.closedWith).toBeUndefined();
    // ...and the next message of any kind (a pong here) closes the connection instead of growing the buffer.
    mux.receive(id, '{"type":"ping"}', false);
    expect(connection.closedWith).toBe(CLOSE_SLOW_CONSUMER);
    expect(connection.sent.at(-1)).toMatchObject({ type: 'error', error: { code: 'slow_consumer' } });
    expect(connection.sent.some((m) => m.type === 'pong')).toBe(false);
    expect(mux.stats()).toEqual({ connections: 0, completions: 0, workflows: 0, agentSubscribers: 0 });
  });

  it('caps the workflows one connection follows', () => {
    const mux = multiplexer();
    const connection = new FakeConnection();
    const id = mux.open(connection)!;
    for (let i = 0; i <= 100; i++)
      mux.receive(id, JSON.stringify({ type: 'subscribe_workflow', workflowId: `w${i}` }), false);
    expect(connection.sent.at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'too_many_subscriptions' },
    });
    expect(mux.stats().workflows).toBe(100);
    mux.close(id);
    expect(mux.stats().workflows).toBe(0);
  });
});
