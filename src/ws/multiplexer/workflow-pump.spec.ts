import { MetricsService } from '../../analytics/metrics.service';
import { loadConfig } from '../../config/config.loader';
import { DomainError, StreamErrorCode } from '../../contract/error-code';
import { OPEN_PRINCIPAL } from '../../contract/principal';
import type { WorkflowBusEvent } from '../../contract/topics';
import { BusSubscription } from '../../events/bus-subscription';
import type { WorkflowEvents, WorkflowFeed } from '../../workflow/workflow-feed';
import { waitFor } from '../../common/testing/wait-for';
import { ConnectionState, type MuxSession } from './connection-state';
import { FakeConnection } from './testing/fake-connection';
import { WorkflowPump } from './workflow-pump';

/** A session that records the stream slots it hands out; `limited` makes `hit` refuse. */
class FakeSession implements MuxSession {
  readonly principal = OPEN_PRINCIPAL;
  readonly held = new Set<string>();
  limited = false;
  reauthenticate(): never {
    throw new Error('not in these tests');
  }
  hit(): Promise<void> {
    if (!this.limited) return Promise.resolve();
    return Promise.reject(
      new DomainError(StreamErrorCode.RateLimitExceeded, 'Too many requests.', { retryAfterMs: 50 }),
    );
  }
  acquireStream(streamId: string): Promise<() => void> {
    this.held.add(streamId);
    return Promise.resolve(() => this.held.delete(streamId));
  }
}

/** Feeds whose opening waits until the test lets it (`gate`), so a follow can be dropped while starting. */
class FakeFeed implements WorkflowFeed {
  readonly streams = new Map<string, BusSubscription<WorkflowBusEvent>>();
  readonly closed: string[] = [];
  gate: Promise<void> = Promise.resolve();
  follow(id: string, options: { overflow: () => Error }): Promise<WorkflowEvents> {
    return this.open(id, options.overflow);
  }
  agentStatus(overflow: () => Error): Promise<WorkflowEvents> {
    return this.open('agent-status', overflow);
  }
  allRuns(overflow: () => Error): Promise<WorkflowEvents> {
    return this.open('workflow-runs', overflow);
  }
  private async open(id: string, overflow: () => Error): Promise<WorkflowEvents> {
    await this.gate;
    const stream = new BusSubscription<WorkflowBusEvent>({
      maxQueued: 100,
      overflow,
      onClose: () => this.closed.push(id),
    });
    this.streams.set(id, stream);
    return stream;
  }
}

function setup() {
  const config = loadConfig({ env: {} });
  const connection = new FakeConnection();
  const session = new FakeSession();
  const feed = new FakeFeed();
  const state = new ConnectionState(
    'ws-1',
    connection,
    session,
    { budget: 1024, meter: new MetricsService(config).meter('ws') },
    () => undefined,
  );
  return { connection, session, feed, state, pump: new WorkflowPump(feed) };
}

const last = (workflowId: string): WorkflowBusEvent => ({
  type: 'workflow_completed',
  workflowId,
  runId: 'r',
});

describe('WorkflowPump (one implementation for subscribe_workflow, agent_status and the workflow stream)', () => {
  it('holds a stream slot per followed stream while it runs and frees it when the stream ends or fails', async () => {
    const { connection, session, feed, state, pump } = setup();
    state.streams.add('agent_status');
    pump.follow(state, 'w1', undefined);
    pump.startAgentStatus(state);
    await waitFor('both streams open', () => feed.streams.size === 2, 1_000);
    expect([...session.held].sort()).toEqual(['ws-1:agent_status', 'ws-1:workflow:w1']);
    // Only the follow is acknowledged (subscribe acknowledges agent_status itself).
    expect(connection.sent).toEqual([
      { type: 'subscribed', streams: ['agent_status'], workflows: ['w1'], completions: [] },
    ]);

    feed.streams.get('w1')!.push({ seq: 1, at: 0, event: last('w1'), last: true });
    await waitFor('the follow to end', () => state.workflows.size === 0, 1_000);
    expect([...session.held]).toEqual(['ws-1:agent_status']);

    // A stream that fails says so (agent_status names no workflow), and ends the same way.
    feed.streams.get('agent-status')!.fail(new DomainError(StreamErrorCode.ConnectionLost, 'Bus gone.'));
    await waitFor('agent_status to end', () => state.agentStatus === undefined, 1_000);
    expect(connection.sent.at(-1)).toEqual({
      type: 'error',
      error: { code: 'connection_lost', message: 'Bus gone.' },
    });
    expect(session.held.size).toBe(0);
    expect(state.streams.has('agent_status')).toBe(false);
    expect(feed.closed.sort()).toEqual(['agent-status', 'w1']);
  });

  it('answers a refused start with an error naming the field, and keeps nothing of it', async () => {
    const { connection, session, state, pump } = setup();
    session.limited = true;
    state.streams.add('agent_status');
    pump.follow(state, 'w1', undefined);
    pump.startAgentStatus(state);
    await waitFor('both refusals', () => connection.sent.length === 2, 1_000);
    const error = { code: 'rate_limit_exceeded', message: 'Too many requests.', retryAfterMs: 50 };
    expect(connection.sent).toEqual([
      { type: 'error', workflowId: 'w1', error: { ...error, param: 'workflowId' } },
      { type: 'error', error: { ...error, param: 'streams' } },
    ]);
    expect(state.workflows.size).toBe(0);
    expect(state.agentStatus).toBeUndefined();
    expect(state.streams.has('agent_status')).toBe(false);
    expect(session.held.size).toBe(0);
  });

  it('closes a stream that opens after it was dropped, freeing its slot', async () => {
    const { connection, session, feed, state, pump } = setup();
    let open!: () => void;
    feed.gate = new Promise((resolve) => (open = resolve));
    pump.follow(state, 'w1', undefined);
    pump.startAgentStatus(state);
    await waitFor('both slots', () => session.held.size === 2, 1_000);
    pump.unfollow(state, 'w1');
    pump.stopAgentStatus(state);
    open();
    await waitFor('both streams closed', () => feed.closed.length === 2, 1_000);
    expect(session.held.size).toBe(0);
    expect(connection.sent).toEqual([]);
  });

  it("streams every run's events on the workflow stream, live, with its own slot, until stopped", async () => {
    const { connection, session, feed, state, pump } = setup();
    state.streams.add('workflow');
    pump.startWorkflowRuns(state);
    pump.startWorkflowRuns(state); // once
    await waitFor('the stream open', () => feed.streams.has('workflow-runs'), 1_000);
    expect([...session.held]).toEqual(['ws-1:workflow']);
    const runs = feed.streams.get('workflow-runs')!;
    runs.push({
      seq: 0,
      at: 0,
      event: { type: 'token_created', workflowId: 'a', runId: 'run_1', place: 'in' },
    });
    runs.push({ seq: 0, at: 0, event: last('b') });
    await waitFor('both events', () => connection.sent.length === 2, 1_000);
    expect(connection.sent).toEqual([
      { type: 'token_created', workflowId: 'a', runId: 'run_1', sequence: 0, place: 'in' },
      { type: 'workflow_completed', workflowId: 'b', runId: 'r', sequence: 0 },
    ]);
    // A run's end does not end the stream: it carries every run.
    expect(state.workflowRuns).toBeDefined();
    pump.stopWorkflowRuns(state);
    expect(state.workflowRuns).toBeUndefined();
    expect(session.held.size).toBe(0);
    await waitFor('the stream closed', () => feed.closed.includes('workflow-runs'), 1_000);
  });
});
