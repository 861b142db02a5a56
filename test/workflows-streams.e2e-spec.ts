import { EventBus } from '../src/events/event-bus.service';
import { type AgentBusEvent, agentTopic, type WorkflowBusEvent, workflowTopic } from '../src/contract/topics';
import { SubscriptionGate } from '../src/graphql/subscription-gate';
import { startApp, type TestApp, withModels } from './support/app';
import { graphqlHttp, type GraphqlHttpReply, GraphqlWsTestClient } from './support/graphql-client';
import { deleteKeys, redisClient, testPrefix } from './support/redis-prefix';
import { postJson, readSse } from './support/sse-client';
import { waitFor } from './support/wait';
import {
  collapse,
  CONTENT_CREATION_ORDER,
  createWorkflow,
  getRun,
  runEvents,
  oneStep,
  startRun,
} from './support/workflows';
import { type Message, WsTestClient } from './support/ws-client';

/** POST /graphql with a query and its variables. */
function gqlHttp<T = Record<string, unknown>>(
  url: string,
  operation: { query: string; variables?: Record<string, unknown> },
): Promise<GraphqlHttpReply<T>> {
  return graphqlHttp<T>(url, operation.query, operation.variables);
}

/** The shipped example's order as WebSocket message types. */
const WS_ORDER = CONTENT_CREATION_ORDER.map(
  (type) =>
    ({
      TOKEN_TRANSITIONED: 'workflow_transition',
      ERROR: 'workflow_error',
    })[type] ?? type.toLowerCase(),
);

const SLOW = withModels([], {
  id: 'simulated/slow',
  provider: 'simulated',
  upstream: 'lorem',
  options: { tokens_per_second: 40, first_token_delay: 0 },
});

describe('workflow streams over WebSocket and GraphQL', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp(SLOW, { workflows: { progress_interval: '0ms' } });
  });
  afterAll(() => t.close());

  it('WebSocket: follows a definition before its run starts, then a run late, every event in order', async () => {
    const client = await WsTestClient.connect(t.url);
    try {
      client.send({ type: 'subscribe', streams: ['agent_status'] });
      client.send({ type: 'subscribe_workflow', workflowId: 'content_creation' });
      await client.next(
        'the follow',
        (m) => m.type === 'subscribed' && (m.workflows as string[]).length === 1,
      );
      const run = await startRun(t.url, 'content_creation', { topic: 'sockets' });
      const mine = (m: Message) => m.runId === run.runId && m.sequence !== 0;
      await client.next('the run to complete', (m) => mine(m) && m.type === 'workflow_completed');
      const byDefinition = client.messages.filter(mine);
      expect(collapse(byDefinition.map((m) => m.type))).toEqual(WS_ORDER);
      const transitions = byDefinition.filter((m) => m.type === 'workflow_transition');
      expect(transitions.map((m) => [m.fromPlace, m.toPlace, m.transition])).toEqual([
        ['brief', 'researched', 'research'],
        ['researched', 'drafted', 'write'],
        ['drafted', 'edited', 'edit'],
        ['edited', 'published', 'publish'],
      ]);
      expect(transitions[0]).toMatchObject({
        workflowId: 'content_creation',
        tokenData: { topic: 'sockets' },
      });
      const progress = byDefinition.filter((m) => m.type === 'agent_progress');
      expect(progress[0]).toMatchObject({
        agentId: 'researcher',
        executionId: expect.stringMatching(/^exec_/) as string,
      });
      expect(progress.every((m) => typeof m.content === 'string' && typeof m.progress === 'number')).toBe(
        true,
      );

      // agent_status: every agent's lifecycle and progress, live (sequence 0).
      const status = client.messages.filter((m) => m.runId === run.runId && m.sequence === 0);
      expect(collapse(status.map((m) => m.type))).toEqual([
        ...['agent_started', 'agent_progress', 'agent_completed'],
        ...['agent_started', 'agent_progress', 'agent_completed'],
        ...['agent_started', 'agent_progress', 'agent_completed'],
      ]);

      // A late follow by run id: the whole history, then the follow ends on its own.
      client.send({ type: 'subscribe_workflow', workflowId: run.runId });
      await client.next(
        'the late history',
        (m) =>
          m.type === 'workflow_completed' &&
          m.runId === run.runId &&
          m !== byDefinition.at(-1) &&
          !byDefinition.includes(m),
      );
      const late = client.messages.filter(
        (m) => m.runId === run.runId && !byDefinition.includes(m) && m.sequence !== 0,
      );
      expect(collapse(late.map((m) => m.type))).toEqual(WS_ORDER);
      expect(late.map((m) => m.sequence)).toEqual(late.map((_, i) => i + 1));
      client.send({ type: 'ping' });
      await client.next('pong', (m) => m.type === 'pong');
      client.send({ type: 'subscribe', streams: ['completion'] });
      const ack = await client.next(
        'the ack',
        (m) => m.type === 'subscribed' && (m.streams as string[]).includes('completion'),
      );
      expect(ack.workflows).toEqual(['content_creation']); // the run's follow ended with the run

      // Resume after a sequence, and an unknown id.
      client.send({ type: 'subscribe_workflow', workflowId: run.runId, afterSequence: late.length - 2 });
      await waitFor(
        'the resumed tail',
        () =>
          client.messages.filter((m) => m.runId === run.runId && m.type === 'workflow_completed').length ===
          3,
      );
      client.send({ type: 'subscribe_workflow', workflowId: 'run_0000' });
      const missing = await client.next(
        'the error',
        (m) => m.type === 'error' && m.workflowId === 'run_0000',
      );
      expect(missing.error).toMatchObject({ code: 'not_found', param: 'workflowId' });
    } finally {
      await client.close();
    }
  });

  it('GraphQL: createWorkflow, startWorkflow, workflowStream by run, workflowRun, and a late agentExecutionStream', async () => {
    const gql = GraphqlWsTestClient.connect(t.url);
    try {
      const created = await gqlHttp<{ createWorkflow: { id: string; analysis: { complete: boolean } } }>(
        t.url,
        {
          query: 'mutation($d: JSON!) { createWorkflow(definition: $d) { id name source analysis } }',
          variables: {
            d: {
              id: 'gql-pair',
              name: 'Pair',
              places: [{ id: 'in', initial: true }, { id: 'mid' }, { id: 'out', final: true }],
              transitions: [
                {
                  id: 'draft',
                  inputs: ['in'],
                  outputs: ['mid'],
                  action: {
                    type: 'agent',
                    agent: 'drafter',
                    model: 'simulated/echo',
                    prompt: 'Say {{word}}',
                  },
                },
                {
                  id: 'shout',
                  inputs: ['mid'],
                  outputs: ['out'],
                  action: {
                    type: 'function',
                    function: 'template',
                    args: { output: 'loud', template: '{{drafter}}!' },
                  },
                },
              ],
            },
          },
        },
      );
      expect(created.body.data?.createWorkflow).toMatchObject({
        id: 'gql-pair',
        analysis: { complete: true },
      });

      const started = await gqlHttp<{ startWorkflow: { runId: string; status: string } }>(t.url, {
        query:
          'mutation { startWorkflow(workflowId: "gql-pair", input: { word: "hello" }) { runId status } }',
      });
      const runId = started.body.data!.startWorkflow.runId;
      expect(started.body.data!.startWorkflow.status).toBe('RUNNING');
      type Streamed = {
        workflowStream: {
          eventType: string;
          sequence: number;
          runId: string;
          agentId: string | null;
          place: string | null;
          data: Record<string, unknown>;
        };
      };
      const events = await gql.collect<Streamed>(
        'subscription($id: ID!) { workflowStream(workflowId: $id) { eventType sequence runId agentId place data } }',
        { id: runId },
      );
      const stream = events.map((r) => r.data!.workflowStream);
      expect(collapse(stream.map((e) => e.eventType))).toEqual([
        'TOKEN_CREATED',
        'AGENT_STARTED',
        'AGENT_PROGRESS',
        'AGENT_COMPLETED',
        'TOKEN_TRANSITIONED',
        'FUNCTION_EXECUTED',
        'TOKEN_TRANSITIONED',
        'WORKFLOW_COMPLETED',
      ]);
      expect(stream.map((e) => e.sequence)).toEqual(stream.map((_, i) => i + 1));

      const read = await gqlHttp<{
        workflowRun: {
          status: string;
          output: Record<string, unknown>;
          steps: number;
          agents: Array<{
            executionId: string;
            agent: string;
            status: string;
            usage: { totalTokens: number };
          }>;
        };
      }>(t.url, {
        query: `{ workflowRun(runId: "${runId}") { status output steps agents { executionId agent status usage { totalTokens } } } }`,
      });
      const run = read.body.data!.workflowRun;
      expect(run).toMatchObject({
        status: 'COMPLETED',
        steps: 2,
        output: { word: 'hello', drafter: 'Say hello', loud: 'Say hello!' },
      });
      expect(run.agents[0]).toMatchObject({ agent: 'drafter', status: 'completed' });

      const agent = await gql.collect<{
        agentExecutionStream: { eventType: string; content: string | null; agentId: string; runId: string };
      }>(
        'subscription($id: ID!) { agentExecutionStream(executionId: $id) { eventType content agentId runId } }',
        { id: run.agents[0]!.executionId },
      );
      const agentEvents = agent.map((r) => r.data!.agentExecutionStream);
      expect(collapse(agentEvents.map((e) => e.eventType))).toEqual(['STARTED', 'CONTENT', 'COMPLETED']);
      expect(agentEvents.map((e) => e.content ?? '').join('')).toBe('Say hello');
      expect(agentEvents[0]).toMatchObject({ agentId: 'drafter', runId });

      const list = await gqlHttp<{ workflows: Array<{ id: string }> }>(t.url, {
        query: '{ workflows { id } }',
      });
      expect(list.body.data!.workflows.map((w) => w.id)).toEqual(
        expect.arrayContaining(['content_creation', 'gql-pair']),
      );
    } finally {
      await gql.dispose();
    }
  });

  it('GraphQL: every run of a definition, errors with codes, and cancel', async () => {
    const gql = GraphqlWsTestClient.connect(t.url);
    try {
      await createWorkflow(
        t.url,
        oneStep(
          'gql-slow',
          {
            type: 'agent',
            agent: 'thinker',
            model: 'simulated/slow',
            prompt: 'x',
            max_tokens: 400,
          },
          'think',
        ),
      );
      const byDefinition = gql.run<{
        workflowStream: { eventType: string; runId: string; data: Record<string, unknown> };
      }>('subscription { workflowStream(workflowId: "gql-slow") { eventType runId data } }');
      await waitFor('the definition follow', () => t.app.get(SubscriptionGate).size === 1);
      const run = await startRun(t.url, 'gql-slow', {});
      await waitFor('progress', () =>
        byDefinition.results.some((r) => r.data?.workflowStream.eventType === 'AGENT_PROGRESS'),
      );
      const cancelled = await gqlHttp<{ cancelWorkflowRun: { status: string; error: { code: string } } }>(
        t.url,
        {
          query: `mutation { cancelWorkflowRun(runId: "${run.runId}") { status error { code } } }`,
        },
      );
      expect(cancelled.body.data!.cancelWorkflowRun).toEqual({
        status: 'CANCELLED',
        error: { code: 'cancelled' },
      });
      await waitFor('the ERROR', () =>
        byDefinition.results.some((r) => r.data?.workflowStream.eventType === 'ERROR'),
      );
      const last = byDefinition.results.at(-1)!.data!.workflowStream;
      expect(last).toMatchObject({
        eventType: 'ERROR',
        runId: run.runId,
        data: { error: { code: 'cancelled' } },
      });
      byDefinition.cancel();

      const invalid = await gqlHttp(t.url, {
        query: 'mutation($d: JSON!) { createWorkflow(definition: $d) { id } }',
        variables: { d: { places: [{ id: 'a', initial: true }], transitions: [] } },
      });
      expect(invalid.body.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_WORKFLOW' });
      const missing = await gqlHttp(t.url, { query: '{ workflowRun(runId: "run_nope") { status } }' });
      expect(missing.body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', param: 'runId' });
      const noDefinition = gql.run('subscription { workflowStream(workflowId: "nope") { eventType } }');
      await noDefinition.ended;
      expect(noDefinition.results[0]?.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
      const badInput = await gqlHttp(t.url, {
        query: 'mutation { startWorkflow(workflowId: "gql-slow", input: [1]) { runId } }',
      });
      expect(badInput.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', param: 'input' });
    } finally {
      await gql.dispose();
    }
  });
});

describe('workflow runs across two instances sharing Redis', () => {
  const prefix = testPrefix('cbwf');
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    const shared = { redis: { key_prefix: prefix }, workflows: { lease_ttl: '900ms' } };
    a = await startApp(SLOW, shared);
    b = await startApp(SLOW, shared);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await deleteKeys(prefix);
  });

  it('a definition made on A runs on B; B reads, follows and cancels a run executing on A', async () => {
    await createWorkflow(
      a.url,
      oneStep(
        'shared-slow',
        { type: 'agent', agent: 'thinker', model: 'simulated/slow', prompt: 'x', max_tokens: 400 },
        'think',
      ),
    );
    const onA = await startRun(a.url, 'shared-slow', { n: 1 });
    const onB = await getRun(b.url, onA.runId);
    expect(onB).toMatchObject({ runId: onA.runId, status: 'running', workflowId: 'shared-slow' });
    const following = runEvents(b.url, onA.runId);
    await waitFor('the agent on A', async () => (await getRun(b.url, onA.runId)).agents.length === 1);
    const res = await postJson(`${b.url}/v1/workflow-runs/${onA.runId}/cancel`, {});
    expect(await res.json()).toMatchObject({ cancelled: true });
    const { data } = await following;
    expect(data.at(-1)).toMatchObject({ type: 'ERROR', data: { error: { code: 'cancelled' } } });
    expect(await getRun(b.url, onA.runId)).toMatchObject({ status: 'cancelled' });

    // B starts a run of A's definition (it reads it from Redis) and A follows it.
    const fromB = await startRun(b.url, 'content_creation', { topic: 'cluster' });
    const seenOnA = await runEvents(a.url, fromB.runId);
    expect(collapse(seenOnA.data.map((e) => e.type))).toEqual(CONTENT_CREATION_ORDER);
    const quick = await createWorkflow(b.url, oneStep('shared-quick', undefined, 'go'));
    expect(quick.id).toBe('shared-quick');
    const ranOnA = await startRun(a.url, 'shared-quick', { ok: true });
    expect((await runEvents(b.url, ranOnA.runId)).data.map((e) => e.type)).toEqual([
      'TOKEN_CREATED',
      'TOKEN_TRANSITIONED',
      'WORKFLOW_COMPLETED',
    ]);
  });
  it('ends a run whose node stopped without ending it (no lease): followers on another node get a retryable ERROR', async () => {
    // What a crashed node leaves behind: a run listed as running, with state and history, and no lease.
    const runId = `run_${'dead'.repeat(8)}`;
    const now = new Date().toISOString();
    const bus = a.app.get(EventBus);
    const run = await bus.open<WorkflowBusEvent, Record<string, unknown>>(workflowTopic(runId), {
      runId,
      workflowId: 'shared-slow',
      status: 'running',
      node: 'node-gone',
      input: {},
      marking: {},
      active: [{ transition: 'think', startedAt: now, executionId: 'exec_dead' }],
      agents: [
        {
          executionId: 'exec_dead',
          agent: 'thinker',
          transition: 'think',
          model: 'simulated/slow',
          status: 'running',
          startedAt: now,
        },
      ],
      steps: 1,
      usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
      createdAt: now,
      updatedAt: now,
    });
    run.publish({ type: 'token_created', workflowId: 'shared-slow', runId, tokenId: 'tk1', place: 'in' });
    run.publish({
      type: 'agent_started',
      workflowId: 'shared-slow',
      runId,
      agentId: 'thinker',
      data: { executionId: 'exec_dead' },
    });
    const agent = await bus.open<AgentBusEvent, Record<string, unknown>>(agentTopic('exec_dead'), {
      executionId: 'exec_dead',
    });
    agent.publish({ type: 'started', executionId: 'exec_dead', agentId: 'thinker' });
    await Promise.all([run.flushed(), agent.flushed()]);
    const redis = redisClient();
    try {
      await redis.sadd(`${prefix}workflows:running`, runId);
    } finally {
      redis.disconnect();
    }

    const gql = GraphqlWsTestClient.connect(b.url);
    try {
      const agentStream = gql.run<{ agentExecutionStream: { eventType: string; data: unknown } }>(
        'subscription { agentExecutionStream(executionId: "exec_dead") { eventType data } }',
      );
      const { data } = await runEvents(b.url, runId);
      expect(data.map((e) => e.type)).toEqual(['TOKEN_CREATED', 'AGENT_STARTED', 'ERROR']);
      expect(data[2]!.data.error).toMatchObject({ code: 'service_unavailable', retryable: true });
      expect((data[2]!.data.error as { message: string }).message).toContain('node-gone');
      expect(await getRun(b.url, runId)).toMatchObject({
        status: 'failed',
        error: { code: 'service_unavailable' },
      });
      expect(await agentStream.ended).toBeUndefined();
      expect(agentStream.results.map((r) => r.data?.agentExecutionStream.eventType)).toEqual([
        'STARTED',
        'ERROR',
      ]);
    } finally {
      await gql.dispose();
    }
  });
});

describe('workflow streams at shutdown', () => {
  it('ends running runs with a retryable ERROR and open event streams with an error frame, then closes', async () => {
    const app = await startApp(SLOW, { server: { shutdown: { drain_timeout: '300ms' } } });
    await createWorkflow(
      app.url,
      oneStep(
        'forever',
        { type: 'agent', agent: 'thinker', model: 'simulated/slow', prompt: 'x', max_tokens: 5000 },
        'think',
      ),
    );
    const definitionStream = readSse(await fetch(`${app.url}/v1/workflows/content_creation/events`));
    const run = await startRun(app.url, 'forever', {});
    const runStream = runEvents(app.url, run.runId);
    await waitFor('the agent', async () => (await getRun(app.url, run.runId)).agents.length === 1);
    // The run would go on for two minutes: close() resolving at all (within the test's 15 s) means the 300 ms
    // drain timeout cut it, and the ERROR frame below says how.
    await app.close();
    const { data } = await runStream;
    expect(data.at(-1)).toMatchObject({
      type: 'ERROR',
      data: { error: { code: 'service_unavailable', retryable: true } },
    });
    const definition = await definitionStream;
    expect(definition.events.at(-1)).toMatchObject({ event: 'error' });
    expect(JSON.parse(definition.events.at(-1)!.data)).toMatchObject({
      error: { code: 'service_unavailable', retryable: true },
    });
  }, 15_000);
});
