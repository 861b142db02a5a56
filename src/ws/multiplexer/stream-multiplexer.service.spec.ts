import pino from 'pino';
import { MetricsService } from '../../analytics/metrics.service';
import { loadConfig } from '../../config/config.loader';
import type { CompletionService, CompletionStream } from '../../streaming/completion.service';
import type { StreamEvent } from '../../contract/stream-event';
import { BusSubscription } from '../../events/bus-subscription';
import type { WorkflowBusEvent } from '../../contract/topics';
import { RequestErrorCode, StreamErrorCode } from '../../contract/error-code';
import { WorkflowError } from '../../workflow/workflow.error';
import { CLOSE_SLOW_CONSUMER } from '../mux-messages';
import { FakeConnection } from './testing/fake-connection';
import { FakeHub, followOf } from './testing/fake-hub';
import { StreamMultiplexer } from './stream-multiplexer.service';
import type { WorkflowFeed } from '../../workflow/workflow-feed';

/** A completion that yields a chunk whenever it is read, until aborted. */
function endless(signal: AbortSignal): CompletionStream {
  async function* events(): AsyncGenerator<StreamEvent> {
    for (let i = 0; !signal.aborted; i++) {
      yield { type: 'content_chunk', completionId: 'x', content: `w${i} `, index: 0 };
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return followOf('chatcmpl-x', events(), 0, { model: 'm', provider: 'p' });
}

/** Workflow streams the test feeds by hand; follows of ids starting with `missing` are refused. */
class FakeFeed implements WorkflowFeed {
  readonly streams = new Map<string, BusSubscription<WorkflowBusEvent>>();
  closed: string[] = [];
  follow(id: string, options: { after?: number; overflow: () => Error }) {
    if (id.startsWith('missing')) {
      return Promise.reject(new WorkflowError(RequestErrorCode.NotFound, `No workflow '${id}'.`));
    }
    return Promise.resolve(this.open(id, options.overflow));
  }
  agentStatus(overflow: () => Error) {
    return Promise.resolve(this.open('agent-status', overflow));
  }
  allRuns(overflow: () => Error) {
    return Promise.resolve(this.open('workflow-runs', overflow));
  }
  private open(id: string, overflow: () => Error) {
    const stream = new BusSubscription<WorkflowBusEvent>({
      maxQueued: 100,
      overflow,
      onClose: () => this.closed.push(id),
    });
    this.streams.set(id, stream);
    return stream;
  }
}

function multiplexer(
  feed?: WorkflowFeed,
  start: (signal: AbortSignal) => CompletionStream = endless,
  hub = new FakeHub(),
) {
  const config = loadConfig({
    env: {},
    overrides: [{ streaming: { protocols: { websocket: { message_buffer_size: '1KB' } } } }],
  });
  const completions = {
    start: (_request: unknown, ctx: { signal: AbortSignal }) => start(ctx.signal),
  } as unknown as CompletionService;
  return new StreamMultiplexer(
    config,
    completions,
    hub,
    new MetricsService(config),
    pino({ level: 'silent' }),
    feed,
  );
}

const EMPTY = {
  connections: 0,
  completions: 0,
  followedCompletions: 0,
  workflows: 0,
  agentSubscribers: 0,
  completionSubscribers: 0,
  workflowSubscribers: 0,
};

const chunks = (c: FakeConnection) => c.sent.filter((m) => m.type === 'content_chunk').length;
const tick = (ms = 30) => new Promise((resolve) => setTimeout(resolve, ms));

/** A connection with one endless completion running on it. */
async function oneCompletion() {
  const mux = multiplexer();
  const connection = new FakeConnection(5);
  const id = mux.open(connection)!;
  const message = { type: 'completion', id: 'a', model: 'echo', messages: [{ role: 'user', content: 'x' }] };
  mux.receive(id, JSON.stringify(message), false);
  await tick();
  return { mux, connection, id };
}

describe('StreamMultiplexer completion errors', () => {
  it('names the dead letter of a dead-lettered completion in its error message', async () => {
    const deadLetterId = 'dl-0123456789abcdef0123456789abcdef';
    async function* events(): AsyncGenerator<StreamEvent> {
      await Promise.resolve();
      yield {
        type: 'error',
        completionId: 'x',
        error: {
          code: StreamErrorCode.ProviderError,
          message: 'All failed.',
          retryable: true,
          deadLetterId,
        },
      };
    }
    const failing = (): CompletionStream => followOf('chatcmpl-x', events());
    const mux = multiplexer(undefined, failing);
    const connection = new FakeConnection(5);
    const id = mux.open(connection)!;
    const message = {
      type: 'completion',
      id: 'a',
      model: 'echo',
      messages: [{ role: 'user', content: 'x' }],
    };
    mux.receive(id, JSON.stringify(message), false);
    for (let i = 0; i < 100 && !connection.sent.some((m) => m.type === 'error'); i++) await tick(5);
    expect(connection.sent.find((m) => m.type === 'error')).toMatchObject({
      type: 'error',
      id: 'a',
      completionId: 'chatcmpl-x',
      seq: 1,
      error: { code: 'provider_error', message: 'All failed.', deadLetterId },
    });
    mux.close(id);
  });
});

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
    expect(mux.stats()).toEqual(EMPTY);
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
    expect(mux.stats()).toEqual(EMPTY);
  });

  it('caps the workflows one connection follows', async () => {
    const feed = new FakeFeed();
    const mux = multiplexer(feed);
    const connection = new FakeConnection(5);
    const id = mux.open(connection)!;
    for (let i = 0; i <= 100; i++)
      mux.receive(id, JSON.stringify({ type: 'subscribe_workflow', workflowId: `w${i}` }), false);
    expect(connection.sent.at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'too_many_subscriptions' },
    });
    expect(mux.stats().workflows).toBe(100);
    await tick(5);
    mux.close(id);
    expect(mux.stats().workflows).toBe(0);
    expect(feed.closed).toHaveLength(100);
  });
});

describe('StreamMultiplexer workflow streams', () => {
  const event = (
    type: WorkflowBusEvent['type'],
    extra: Partial<WorkflowBusEvent> = {},
  ): WorkflowBusEvent => ({
    type,
    workflowId: 'wf',
    runId: 'run_1',
    ...extra,
  });

  it('acknowledges a follow, then forwards its events mapped, and drops it after the last', async () => {
    const feed = new FakeFeed();
    const mux = multiplexer(feed);
    const connection = new FakeConnection(5);
    const id = mux.open(connection)!;
    mux.receive(
      id,
      JSON.stringify({ type: 'subscribe_workflow', workflowId: 'run_1', afterSequence: 0 }),
      false,
    );
    await tick(5);
    expect(connection.sent).toEqual([
      { type: 'subscribed', streams: [], workflows: ['run_1'], completions: [] },
    ]);
    const stream = feed.streams.get('run_1')!;
    stream.push({
      seq: 1,
      at: 0,
      event: event('token_created', { tokenId: 'tk1', place: 'in', data: { token_data: { a: 1 } } }),
    });
    stream.push({
      seq: 2,
      at: 0,
      event: event('token_transitioned', {
        tokenId: 'tk2',
        place: 'out',
        data: { transition: 'go', from: ['in', 'side'], to: 'out', consumed: ['tk1'], token_data: { a: 2 } },
      }),
    });
    stream.push({
      seq: 3,
      at: 0,
      event: event('agent_progress', {
        agentId: 'ag',
        data: { executionId: 'ex', content: 'hi', progress: 0.5 },
      }),
    });
    stream.push({
      seq: 4,
      at: 0,
      event: event('workflow_completed', { place: 'out', data: { output: { a: 2 } } }),
      last: true,
    });
    await tick(5);
    expect(connection.sent.slice(1)).toEqual([
      {
        type: 'token_created',
        workflowId: 'wf',
        runId: 'run_1',
        sequence: 1,
        tokenId: 'tk1',
        place: 'in',
        tokenData: { a: 1 },
      },
      {
        type: 'workflow_transition',
        workflowId: 'wf',
        runId: 'run_1',
        sequence: 2,
        transition: 'go',
        fromPlace: 'in,side',
        fromPlaces: ['in', 'side'],
        toPlace: 'out',
        tokenId: 'tk2',
        consumed: ['tk1'],
        tokenData: { a: 2 },
      },
      {
        type: 'agent_progress',
        workflowId: 'wf',
        runId: 'run_1',
        sequence: 3,
        agentId: 'ag',
        executionId: 'ex',
        content: 'hi',
        progress: 0.5,
      },
      {
        type: 'workflow_completed',
        workflowId: 'wf',
        runId: 'run_1',
        sequence: 4,
        place: 'out',
        output: { a: 2 },
      },
    ]);
    expect(mux.stats().workflows).toBe(0);
    expect(feed.closed).toEqual(['run_1']);
  });

  it('answers an unknown workflow with an error naming it, and bad afterSequence with invalid_message', async () => {
    const mux = multiplexer(new FakeFeed());
    const connection = new FakeConnection(5);
    const id = mux.open(connection)!;
    mux.receive(id, JSON.stringify({ type: 'subscribe_workflow', workflowId: 'missing-1' }), false);
    mux.receive(
      id,
      JSON.stringify({ type: 'subscribe_workflow', workflowId: 'x', afterSequence: -1 }),
      false,
    );
    await tick(5);
    expect(connection.sent).toEqual([
      {
        type: 'error',
        error: { code: 'invalid_message', message: expect.any(String) as string, param: 'afterSequence' },
      },
      {
        type: 'error',
        workflowId: 'missing-1',
        error: { code: 'not_found', message: "No workflow 'missing-1'.", param: 'workflowId' },
      },
    ]);
    expect(mux.stats().workflows).toBe(0);
  });

  it('streams agent_status while subscribed, an agent failure as agent_error, and stops on unsubscribe', async () => {
    const feed = new FakeFeed();
    const mux = multiplexer(feed);
    const connection = new FakeConnection(5);
    const id = mux.open(connection)!;
    mux.receive(id, JSON.stringify({ type: 'subscribe', streams: ['agent_status'] }), false);
    await tick(5);
    expect(mux.stats().agentSubscribers).toBe(1);
    feed.streams.get('agent-status')!.push({
      seq: 0,
      at: 0,
      event: event('error', { agentId: 'ag', data: { error: { code: 'provider_error' } } }),
    });
    await tick(5);
    expect(connection.sent.at(-1)).toEqual({
      type: 'agent_error',
      workflowId: 'wf',
      runId: 'run_1',
      sequence: 0,
      agentId: 'ag',
      error: { code: 'provider_error' },
    });
    mux.receive(id, JSON.stringify({ type: 'unsubscribe', streams: ['agent_status'] }), false);
    expect(mux.stats().agentSubscribers).toBe(0);
    expect(feed.closed).toEqual(['agent-status']);
  });
});
