import { DeadLetterService } from '../src/dead-letter/dead-letter.service';
import { StreamErrorCode } from '../src/contract/error-code';
import { EventBus } from '../src/events/event-bus.service';
import { SystemEvents } from '../src/system/system-events.service';
import { type AgentBusEvent, agentTopic, type WorkflowBusEvent, workflowTopic } from '../src/contract/topics';
import { CircuitBreakerService } from '../src/routing/circuit-breaker.service';
import { startApp, type TestApp } from './support/app';
import {
  COMPLETION_STREAM,
  CREATE_COMPLETION,
  echoInput,
  graphqlHttp,
  GraphqlWsTestClient,
  type StreamEventResult,
} from './support/graphql-client';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { waitFor } from './support/wait';

interface Created {
  createCompletion: { completionId: string };
}
interface Streamed {
  completionStream: StreamEventResult;
}
interface SystemResult {
  systemEvents: {
    eventType: string;
    severity: string;
    provider: string | null;
    model: string | null;
    nodeId: string;
    data: Record<string, unknown> | null;
    message: string;
  };
}

const TEXT = Array.from({ length: 24 }, (_, i) => `token${i}`).join(' ');
const SYSTEM = `subscription($filter: EventFilter) {
  systemEvents(filter: $filter) { eventType severity provider model nodeId data message timestamp }
}`;

/** Two nodes sharing Redis: whatever one produces, a subscriber on the other receives. */
describe('GraphQL across two instances sharing Redis', () => {
  const prefix = testPrefix();
  let a: TestApp;
  let b: TestApp;
  let onA: GraphqlWsTestClient;
  let onB: GraphqlWsTestClient;

  beforeAll(async () => {
    const layer = {
      redis: { key_prefix: prefix },
      providers: { simulated: { tokens_per_second: 40 } },
      streaming: { error_handling: { circuit_breaker_min_requests: 2, circuit_breaker_cool_down: '1m' } },
    };
    a = await startApp(layer);
    b = await startApp(layer);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deleteKeys(prefix);
  });
  beforeEach(() => {
    onA = GraphqlWsTestClient.connect(a.url);
    onB = GraphqlWsTestClient.connect(b.url);
  });
  afterEach(async () => {
    await onA.dispose();
    await onB.dispose();
  });

  it('a completion started on A streams, whole and in order, to a subscriber on B that joined mid-stream', async () => {
    const [created] = await onA.collect<Created>(CREATE_COMPLETION, { input: echoInput(TEXT) });
    const id = created!.data!.createCompletion.completionId;
    // Mid-stream: a subscriber on A has seen events already.
    const first = onA.run<Streamed>(COMPLETION_STREAM, { id });
    await waitFor('some events out already', () => first.results.length >= 3);
    const events = (await onB.collect<Streamed>(COMPLETION_STREAM, { id })).map(
      (r) => r.data!.completionStream,
    );
    expect(
      events
        .filter((e) => e.eventType === 'CONTENT_CHUNK')
        .map((e) => e.content)
        .join(''),
    ).toBe(TEXT);
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ eventType: 'COMPLETED', usage: { completionTokens: 24 } });
    const result = await graphqlHttp<{ completion: { status: string; content: string } }>(
      b.url,
      'query($id: ID!) { completion(completionId: $id) { status content } }',
      { id },
    );
    expect(result.body.data!.completion).toEqual({ status: 'COMPLETED', content: TEXT });
  });

  it('a cancel asked on B stops the completion running on A', async () => {
    const [created] = await onA.collect<Created>(CREATE_COMPLETION, { input: echoInput(TEXT) });
    const id = created!.data!.createCompletion.completionId;
    const stream = onA.run<Streamed>(COMPLETION_STREAM, { id });
    await waitFor('a first chunk', () => stream.results.length > 0);
    const [cancelled] = await onB.collect<{ cancelCompletion: boolean }>(
      'mutation($id: ID!) { cancelCompletion(completionId: $id) }',
      { id },
    );
    expect(cancelled!.data!.cancelCompletion).toBe(true);
    await stream.ended;
    expect(stream.results.at(-1)!.data!.completionStream).toMatchObject({
      eventType: 'ERROR',
      metadata: { error: { code: 'cancelled' } },
    });
    const content = stream.results.map((r) => r.data!.completionStream.content ?? '').join('');
    expect(content.length).toBeLessThan(TEXT.length);
  });

  it('systemEvents on B hears A: a circuit opening passes an ERROR filter, a dead letter only the unfiltered one', async () => {
    const filtered = onB.run<SystemResult>(SYSTEM, {
      filter: {
        eventTypes: ['CIRCUIT_STATE_CHANGED', 'DEAD_LETTER'],
        providers: ['simulated'],
        minSeverity: 'ERROR',
      },
    });
    const everything = onB.run<SystemResult>(SYSTEM);
    const otherProvider = onB.run<SystemResult>(SYSTEM, { filter: { providers: ['openai'] } });
    await waitFor('three live subscriptions on B', () => b.app.get(EventBus).subscriptionCount >= 5); // and 2 control listeners

    const breaker = a.app.get(CircuitBreakerService);
    for (let i = 0; i < 2; i++) await breaker.record('simulated', 'simulated/lorem', false, false);
    a.app.get(DeadLetterService).record({
      request: { model: 'simulated/lorem', messages: [{ role: 'user', content: 'x' }] },
      requestId: 'r-1',
      completionId: 'chatcmpl-cluster',
      protocol: 'graphql',
      errorKind: StreamErrorCode.InvalidResponse,
      errorMessage: 'garbled',
      attempts: [
        {
          provider: 'simulated',
          model: 'simulated/lorem',
          code: StreamErrorCode.InvalidResponse,
          message: 'garbled',
          startedAt: new Date().toISOString(),
          endedAt: new Date().toISOString(),
        },
      ],
      chain: ['simulated/lorem'],
      byok: false,
      receivedAt: new Date().toISOString(),
      failedAt: new Date().toISOString(),
    });
    await waitFor('both events on the unfiltered subscription', () => everything.results.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 100));

    const types = (op: { results: Array<{ data?: SystemResult | null }> }) =>
      op.results.map((r) => r.data!.systemEvents.eventType);
    expect(types(everything)).toEqual(['CIRCUIT_STATE_CHANGED', 'DEAD_LETTER']);
    expect(types(filtered)).toEqual(['CIRCUIT_STATE_CHANGED']);
    expect(types(otherProvider)).toEqual([]);
    expect(filtered.results[0]!.data!.systemEvents).toMatchObject({
      severity: 'ERROR',
      provider: 'simulated',
      model: 'simulated/lorem',
      nodeId: a.app.get(SystemEvents).node,
      data: { from: 'closed', to: 'open', errorRate: 100 },
    });
    expect(a.app.get(SystemEvents).node).not.toBe(b.app.get(SystemEvents).node);
    expect(everything.results[1]!.data!.systemEvents).toMatchObject({
      severity: 'WARNING',
      data: { completionId: 'chatcmpl-cluster', errorKind: 'invalid_response' },
    });
    await breaker.reset('simulated', 'simulated/lorem');
  });

  it('systemEvents reports a node starting and stopping', async () => {
    const lifecycle = onB.run<SystemResult>(SYSTEM, {
      filter: { eventTypes: ['NODE_STARTED', 'NODE_STOPPING'] },
    });
    await waitFor('a live subscription on B', () => b.app.get(EventBus).subscriptionCount >= 3); // and 2 control listeners
    const c = await startApp({ redis: { key_prefix: prefix } });
    await waitFor('NODE_STARTED', () => lifecycle.results.length >= 1);
    await c.close();
    await waitFor('NODE_STOPPING', () => lifecycle.results.length >= 2);
    expect(
      lifecycle.results.map((r) => [r.data!.systemEvents.eventType, r.data!.systemEvents.severity]),
    ).toEqual([
      ['NODE_STARTED', 'INFO'],
      ['NODE_STOPPING', 'WARNING'],
    ]);
  });

  it('workflow and agent streams published on A reach B, history first, to the last event', async () => {
    const busA = a.app.get(EventBus);
    const workflow = await busA.open<WorkflowBusEvent, { status: string }>(workflowTopic('run_1'), {
      status: 'running',
    });
    workflow.publish({
      type: 'token_created',
      workflowId: 'run_1',
      runId: 'run_1',
      tokenId: 't1',
      place: 'start',
      data: { topic: 'x' },
    });
    workflow.publish({ type: 'agent_started', workflowId: 'run_1', runId: 'run_1', agentId: 'researcher' });
    await workflow.flushed();
    const followed = onB.run<{
      workflowStream: {
        eventType: string;
        sequence: number;
        place: string | null;
        agentId: string | null;
        data: unknown;
      };
    }>('subscription { workflowStream(workflowId: "run_1") { eventType sequence place agentId data } }');
    await waitFor('the history', () => followed.results.length >= 2);
    workflow.publish({
      type: 'token_transitioned',
      workflowId: 'run_1',
      runId: 'run_1',
      tokenId: 't1',
      place: 'done',
      data: { from: 'start', to: 'done' },
    });
    workflow.publish({ type: 'workflow_completed', workflowId: 'run_1', runId: 'run_1' }, true);
    expect(await followed.ended).toBeUndefined();
    expect(
      followed.results.map((r) => [r.data!.workflowStream.eventType, r.data!.workflowStream.sequence]),
    ).toEqual([
      ['TOKEN_CREATED', 1],
      ['AGENT_STARTED', 2],
      ['TOKEN_TRANSITIONED', 3],
      ['WORKFLOW_COMPLETED', 4],
    ]);
    expect(followed.results[0]!.data!.workflowStream).toMatchObject({ place: 'start', data: { topic: 'x' } });

    const agent = await busA.open<AgentBusEvent, { status: string }>(agentTopic('exec-1'), {
      status: 'running',
    });
    agent.publish({ type: 'started', executionId: 'exec-1', agentId: 'writer' });
    agent.publish({
      type: 'content',
      executionId: 'exec-1',
      agentId: 'writer',
      content: 'Once',
      progress: 0.5,
    });
    agent.publish(
      {
        type: 'completed',
        executionId: 'exec-1',
        agentId: 'writer',
        progress: 1,
        usage: { promptTokens: 3, completionTokens: 1, totalTokens: 4 },
      },
      true,
    );
    await agent.flushed();
    const execution = await onB.collect<{
      agentExecutionStream: {
        eventType: string;
        content: string | null;
        progress: number | null;
        usage: { totalTokens: number } | null;
      };
    }>(
      'subscription { agentExecutionStream(executionId: "exec-1") { eventType content progress usage { totalTokens } } }',
    );
    expect(execution.map((r) => r.data!.agentExecutionStream)).toEqual([
      { eventType: 'STARTED', content: null, progress: null, usage: null },
      { eventType: 'CONTENT', content: 'Once', progress: 0.5, usage: null },
      { eventType: 'COMPLETED', content: null, progress: 1, usage: { totalTokens: 4 } },
    ]);
  });
});
