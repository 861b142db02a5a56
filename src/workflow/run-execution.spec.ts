import pino from 'pino';
import type { TopicWriter } from '../events/event-bus.service';
import type { WorkflowBusEvent } from '../contract/topics';
import type { AgentRun, AgentRunner } from './agent-runner';
import { RunExecution, type RunSettings } from './run-execution';
import { StepError } from './step-error';
import { type WebhookCall, WebhookError, type WebhookResult } from './webhook-client';
import type {
  Action,
  AgentAction,
  WebhookAction,
  FunctionAction,
  Guard,
  PlaceDefinition,
  TransitionDefinition,
  WorkflowDefinition,
} from './workflow-definition';
import { type RunError, WorkflowErrorCode, type WorkflowRunSummary } from './workflow-run';

// ---------------------------------------------------------------------------------------------------------
// Fakes
// ---------------------------------------------------------------------------------------------------------

interface Published {
  event: WorkflowBusEvent;
  /** The `last` argument exactly as passed (undefined when left out). */
  last: boolean | undefined;
}

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** Records every publish and summarize (deep copies), in order, also into a log shared by both writers. */
class FakeWriter<S> {
  readonly published: Published[] = [];
  readonly summaries: S[] = [];
  flushes = 0;
  flush: () => Promise<void> = () => Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly log: string[],
  ) {}

  publish(event: WorkflowBusEvent, last?: boolean): void {
    this.published.push({ event: copy(event), last });
    this.log.push(`${this.name}:publish:${event.type}${last ? ':last' : ''}`);
  }

  summarize(summary: S): void {
    this.summaries.push(copy(summary));
    this.log.push(`${this.name}:summarize:${(summary as { status?: string }).status ?? '?'}`);
  }

  flushed(): Promise<void> {
    this.flushes++;
    return this.flush();
  }
}

interface AgentCall {
  run: AgentRun;
  resolve: (text: string) => void;
  reject: (err: unknown) => void;
}

/**
 * AgentRunner.run: calls onStart, then holds its promise until the test resolves or rejects it; an abort of
 * the run's signal rejects it (as a cancelled completion would). `onAbort` lets a test act on the abort.
 */
class FakeAgents {
  readonly calls: AgentCall[] = [];
  onAbort?: (run: AgentRun) => void;
  /** False: the agent ignores the abort (its answer may still arrive after the run ended). */
  honourAbort = true;

  run(run: AgentRun): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.calls.push({ run, resolve, reject });
      run.onStart(`exec_${this.calls.length}`);
      run.signal.addEventListener('abort', () => {
        this.onAbort?.(run);
        if (this.honourAbort) reject(new Error('aborted'));
      });
    });
  }

  call(i: number): AgentCall {
    const call = this.calls[i];
    if (!call) throw new Error(`no agent call #${i}`);
    return call;
  }
}

/** WebhookClient.call: answers with `answer` (or throws WebhookError(detail) when `fail` is set). */
class FakeWebhooks {
  readonly calls: Array<{ action: WebhookAction; call: WebhookCall }> = [];
  answer: Record<string, unknown> = {};
  fail?: string;

  call(action: WebhookAction, call: WebhookCall): Promise<WebhookResult> {
    this.calls.push({ action, call });
    if (this.fail !== undefined) return Promise.reject(new WebhookError(this.fail));
    return Promise.resolve({ data: { ...call.data, ...this.answer }, status: 200, durationMs: 3 });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------------------

const place = (id: string, kind: { initial?: boolean; final?: boolean } = {}): PlaceDefinition => ({
  id,
  initial: kind.initial ?? false,
  final: kind.final ?? false,
});

const transition = (
  id: string,
  inputs: string[],
  outputs: string[],
  action: Action = { type: 'none' },
  guard?: Guard,
): TransitionDefinition => ({ id, inputs, outputs, action, ...(guard ? { guard } : {}) });

const agentAction = (agent: string, output = agent): AgentAction => ({
  type: 'agent',
  agent,
  model: 'test-model',
  prompt: '{{q}}',
  output,
});

const fn = (f: FunctionAction['function'], args: Record<string, unknown>): FunctionAction => ({
  type: 'function',
  function: f,
  args,
});

const definitionOf = (
  places: PlaceDefinition[],
  transitions: TransitionDefinition[],
): WorkflowDefinition => ({
  id: 'wf',
  name: 'Test workflow',
  places,
  transitions,
});

const ZERO_USAGE = { promptTokens: 0, completionTokens: 0, totalTokens: 0, reasoningTokens: 0 };

const SETTINGS: RunSettings = { maxSteps: 100, maxParallel: 8, timeoutMs: 60_000, maxTokenData: 65_536 };

// ---------------------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------------------

function start(
  definition: WorkflowDefinition,
  input: Record<string, unknown> = { q: 'hi' },
  settings: Partial<RunSettings> = {},
  begin = true,
) {
  const log: string[] = [];
  const runWriter = new FakeWriter<WorkflowRunSummary>('run', log);
  const definitionWriter = new FakeWriter<unknown>('definition', log);
  const agents = new FakeAgents();
  const webhooks = new FakeWebhooks();
  const now = new Date().toISOString();
  const summary: WorkflowRunSummary = {
    runId: 'run_1',
    workflowId: definition.id,
    status: 'running',
    node: 'node-1',
    input,
    marking: {},
    active: [],
    agents: [],
    steps: 0,
    usage: { ...ZERO_USAGE },
    createdAt: now,
    updatedAt: now,
  };
  const execution = new RunExecution(
    definition,
    summary,
    {
      run: runWriter as unknown as TopicWriter<WorkflowBusEvent, WorkflowRunSummary>,
      definition: definitionWriter as unknown as TopicWriter<WorkflowBusEvent, unknown>,
    },
    agents as unknown as AgentRunner,
    webhooks,
    { ...SETTINGS, ...settings },
    pino({ level: 'silent' }),
  );
  if (begin) execution.begin();
  const events = () => runWriter.published.map((p) => p.event);
  return {
    execution,
    runWriter,
    definitionWriter,
    agents,
    webhooks,
    log,
    events,
    types: () => events().map((e) => e.type),
    lastEvent: () => {
      const event = events().at(-1);
      if (!event) throw new Error('no events');
      return event;
    },
    /** The last summary written (the fake's deep copy). */
    state: () => {
      const s = runWriter.summaries.at(-1);
      if (!s) throw new Error('no summary written');
      return s;
    },
  };
}

type Harness = ReturnType<typeof start>;

/** Lets every pending promise and setImmediate callback run (a few turns of the event loop). */
async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const TERMINAL = new Set(['workflow_completed', 'error']);

/**
 * What every ended run must show: exactly one terminal event, last on the run writer and the only one
 * flagged `last`; the same events on the definition writer, never flagged; the terminal summary written
 * right before the last event; every event naming the workflow and the run.
 */
async function ended(h: Harness): Promise<WorkflowBusEvent> {
  await h.execution.done;
  await settle();
  const run = h.runWriter.published;
  expect(run.length).toBeGreaterThan(0);
  expect(run.map((p) => p.last === true)).toEqual(run.map((_, i) => i === run.length - 1));
  expect(run.filter((p) => TERMINAL.has(p.event.type))).toHaveLength(1);
  expect(h.definitionWriter.published.map((p) => p.event)).toEqual(run.map((p) => p.event));
  expect(h.definitionWriter.published.filter((p) => p.last !== undefined && p.last !== false)).toEqual([]);
  for (const { event } of run) expect(event).toMatchObject({ workflowId: 'wf', runId: 'run_1' });
  const terminal = h.lastEvent();
  const status = h.state().status;
  expect(status).not.toBe('running');
  // State first, then the last event (on both topics); nothing written after.
  expect(h.log.slice(-3)).toEqual([
    `run:summarize:${status}`,
    `run:publish:${terminal.type}:last`,
    `definition:publish:${terminal.type}`,
  ]);
  expect(h.execution.snapshot().status).toBe(status);
  return terminal;
}

function errorOf(event: WorkflowBusEvent): RunError {
  expect(event.type).toBe('error');
  return (event.data as { error: RunError }).error;
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

describe('RunExecution', () => {
  describe('a linear net of none actions', () => {
    const linear = definitionOf(
      [place('in', { initial: true }), place('mid'), place('out', { final: true })],
      [transition('t1', ['in'], ['mid']), transition('t2', ['mid'], ['out'])],
    );

    it('creates, moves and completes with exact events, summary and output', async () => {
      const input = { q: 'hi', n: 1 };
      const h = start(linear, input);
      await expect(h.execution.done).resolves.toBeUndefined();
      const base = { workflowId: 'wf', runId: 'run_1' };
      expect(h.events()).toEqual([
        { ...base, type: 'token_created', tokenId: 'tk1', place: 'in', data: { token_data: input } },
        {
          ...base,
          type: 'token_transitioned',
          tokenId: 'tk2',
          place: 'mid',
          data: { transition: 't1', from: ['in'], to: 'mid', consumed: ['tk1'], token_data: input },
        },
        {
          ...base,
          type: 'token_transitioned',
          tokenId: 'tk3',
          place: 'out',
          data: { transition: 't2', from: ['mid'], to: 'out', consumed: ['tk2'], token_data: input },
        },
        {
          ...base,
          type: 'workflow_completed',
          place: 'out',
          data: { output: input, final_places: ['out'], steps: 2, usage: ZERO_USAGE },
        },
      ]);
      await ended(h);
      const state = h.state();
      expect(state).toMatchObject({
        status: 'completed',
        steps: 2,
        output: input,
        marking: { out: [{ tokenId: 'tk3', data: input }] },
        active: [],
      });
      expect(state.error).toBeUndefined();
      expect(state.finishedAt).toEqual(expect.any(String));
      expect(state.updatedAt).toBe(state.finishedAt);
      expect(h.runWriter.flushes).toBe(1);
      expect(h.definitionWriter.flushes).toBe(1);
    });

    it('snapshot() is a deep copy', async () => {
      const h = start(linear, { q: 'hi', nested: { a: 1 } });
      await h.execution.done;
      const snap = h.execution.snapshot();
      snap.steps = 99;
      snap.status = 'failed';
      (snap.input.nested as { a: number }).a = 2;
      snap.marking.out!.push({ tokenId: 'x', data: {} });
      (snap.output as { q: string }).q = 'changed';
      const again = h.execution.snapshot();
      expect(again).not.toBe(snap);
      expect(again).toMatchObject({
        steps: 2,
        status: 'completed',
        input: { q: 'hi', nested: { a: 1 } },
        output: { q: 'hi', nested: { a: 1 } },
      });
      expect(again.marking.out).toHaveLength(1);
    });

    it('done waits until both writers have flushed', async () => {
      const h = start(linear, { q: 'hi' }, {}, false);
      let releaseRun!: () => void;
      let releaseDefinition!: () => void;
      h.runWriter.flush = () => new Promise<void>((r) => (releaseRun = r));
      h.definitionWriter.flush = () => new Promise<void>((r) => (releaseDefinition = r));
      let resolved = false;
      void h.execution.done.then(() => (resolved = true));
      h.execution.begin();
      await settle();
      expect(h.lastEvent().type).toBe('workflow_completed');
      expect(resolved).toBe(false);
      releaseRun();
      await settle();
      expect(resolved).toBe(false);
      releaseDefinition();
      await settle();
      expect(resolved).toBe(true);
    });

    it('writes running state (marking, active) while it runs', async () => {
      const h = start(
        definitionOf(
          [place('in', { initial: true }), place('out', { final: true })],
          [transition('ask', ['in'], ['out'], agentAction('writer'))],
        ),
      );
      const snap = h.execution.snapshot();
      expect(snap.active).toEqual([
        { transition: 'ask', startedAt: expect.any(String), executionId: 'exec_1' },
      ]);
      expect(snap.steps).toBe(1);
      await settle();
      expect(h.state()).toMatchObject({ status: 'running', marking: {}, steps: 1 });
      expect(h.state().active).toHaveLength(1);
      h.agents.call(0).resolve('done');
      await ended(h);
    });
  });

  describe('several initial places and joins', () => {
    it('puts a token with the input in every initial place; a join consumes one from each', async () => {
      const input = { q: 'hi' };
      const h = start(
        definitionOf(
          [place('a', { initial: true }), place('b', { initial: true }), place('out', { final: true })],
          [transition('join', ['a', 'b'], ['out'])],
        ),
        input,
      );
      await ended(h);
      expect(h.events().map((e) => [e.type, e.tokenId, e.place])).toEqual([
        ['token_created', 'tk1', 'a'],
        ['token_created', 'tk2', 'b'],
        ['token_transitioned', 'tk3', 'out'],
        ['workflow_completed', undefined, 'out'],
      ]);
      expect(h.events()[0]!.data).toEqual({ token_data: input });
      expect(h.events()[1]!.data).toEqual({ token_data: input });
      expect(h.events()[2]!.data).toEqual({
        transition: 'join',
        from: ['a', 'b'],
        to: 'out',
        consumed: ['tk1', 'tk2'],
        token_data: input,
      });
      expect(h.state()).toMatchObject({ status: 'completed', steps: 1, output: input });
      expect(Object.keys(h.state().marking)).toEqual(['out']);
    });

    it.each([
      [['p1', 'p2'], 'second'],
      [['p2', 'p1'], 'first'],
    ])('merges the inputs %j, the later one winning on shared keys', async (inputs, who) => {
      const h = start(
        definitionOf(
          [
            place('i1', { initial: true }),
            place('i2', { initial: true }),
            place('p1'),
            place('p2'),
            place('out', { final: true }),
          ],
          [
            transition('s1', ['i1'], ['p1'], fn('set', { values: { who: 'first', x: 1 } })),
            transition('s2', ['i2'], ['p2'], fn('set', { values: { who: 'second', y: 2 } })),
            transition('join', inputs, ['out']),
          ],
        ),
        { q: 'hi', who: 'input' },
      );
      await ended(h);
      expect(h.state().output).toEqual({ q: 'hi', who, x: 1, y: 2 });
      const joined = h.events().find((e) => e.type === 'token_transitioned' && e.place === 'out');
      expect(joined?.data).toMatchObject({ from: inputs, token_data: { who } });
    });
  });

  describe('concurrency', () => {
    const twoAgents = definitionOf(
      [
        place('i1', { initial: true }),
        place('i2', { initial: true }),
        place('o1'),
        place('o2'),
        place('out', { final: true }),
      ],
      [
        transition('a1', ['i1'], ['o1'], agentAction('one')),
        transition('a2', ['i2'], ['o2'], agentAction('two')),
        transition('join', ['o1', 'o2'], ['out']),
      ],
    );

    it('starts independent agent transitions at once', async () => {
      const h = start(twoAgents);
      expect(h.agents.calls.map((c) => c.run.transition)).toEqual(['a1', 'a2']);
      expect(h.execution.snapshot().active.map((a) => a.transition)).toEqual(['a1', 'a2']);
      h.agents.call(1).resolve('B');
      await settle();
      expect(h.types()).not.toContain('workflow_completed');
      h.agents.call(0).resolve('A');
      await ended(h);
      expect(h.state()).toMatchObject({
        status: 'completed',
        steps: 3,
        output: { q: 'hi', one: 'A', two: 'B' },
      });
    });

    it('runs them one at a time with maxParallel 1', async () => {
      const h = start(twoAgents, { q: 'hi' }, { maxParallel: 1 });
      expect(h.agents.calls).toHaveLength(1);
      expect(h.agents.call(0).run.transition).toBe('a1');
      await settle();
      expect(h.agents.calls).toHaveLength(1);
      expect(h.execution.snapshot().active).toHaveLength(1);
      h.agents.call(0).resolve('A');
      await settle();
      expect(h.agents.calls).toHaveLength(2);
      expect(h.agents.call(1).run.transition).toBe('a2');
      h.agents.call(1).resolve('B');
      await ended(h);
      expect(h.state()).toMatchObject({
        status: 'completed',
        steps: 3,
        output: { q: 'hi', one: 'A', two: 'B' },
      });
    });
  });

  describe('guards', () => {
    it('binds the token its guard accepts, not the oldest', async () => {
      const h = start(
        definitionOf(
          [
            place('i1', { initial: true }),
            place('i2', { initial: true }),
            place('i3', { initial: true }),
            place('p'),
            place('out', { final: true }),
          ],
          [
            transition('mk_x', ['i1'], ['p'], fn('set', { values: { kind: 'x' } })),
            transition('mk_z', ['i2'], ['p'], fn('set', { values: { kind: 'z' } })),
            transition('mk_y', ['i3'], ['p'], fn('set', { values: { kind: 'y' } })),
            transition('pick_y', ['p'], ['out'], { type: 'none' }, { field: 'kind', op: 'eq', value: 'y' }),
          ],
        ),
      );
      await ended(h);
      // tk4 (kind x), tk5 (kind z), both older, and tk6 (kind y) are all in p when pick_y binds.
      const moved = h.events().filter((e) => e.type === 'token_transitioned');
      expect(
        moved.map((e) => [e.tokenId, e.place, (e.data as { token_data: { kind: string } }).token_data.kind]),
      ).toEqual([
        ['tk4', 'p', 'x'],
        ['tk5', 'p', 'z'],
        ['tk6', 'p', 'y'],
        ['tk7', 'out', 'y'],
      ]);
      expect(moved[3]!.data).toMatchObject({ transition: 'pick_y', consumed: ['tk6'] });
      expect(h.state()).toMatchObject({
        status: 'completed',
        steps: 4,
        output: { q: 'hi', kind: 'y' },
        marking: {
          p: [
            { tokenId: 'tk4', data: { q: 'hi', kind: 'x' } },
            { tokenId: 'tk5', data: { q: 'hi', kind: 'z' } },
          ],
        },
      });
    });

    it('reports a deadlock naming the refused transition, keeping the marking', async () => {
      const input = { kind: 'x' };
      const h = start(
        definitionOf(
          [place('a', { initial: true }), place('out', { final: true })],
          [transition('only_y', ['a'], ['out'], { type: 'none' }, { field: 'kind', op: 'eq', value: 'y' })],
        ),
        input,
      );
      const terminal = await ended(h);
      expect(h.types()).toEqual(['token_created', 'error']);
      const error = errorOf(terminal);
      expect(error).toEqual({
        code: WorkflowErrorCode.Deadlock,
        message: expect.any(String),
        retryable: false,
      });
      expect(error.message).toContain('a: 1');
      expect(error.message).toContain('guards refused: only_y');
      expect(terminal.agentId).toBeUndefined();
      expect(h.state()).toMatchObject({
        status: 'failed',
        steps: 0,
        error,
        marking: { a: [{ tokenId: 'tk1', data: input }] },
        active: [],
      });
      expect(h.state().output).toBeUndefined();
    });

    it('reports a deadlock without refused guards when a join lacks an input', async () => {
      const h = start(
        definitionOf(
          [place('a', { initial: true }), place('b'), place('c'), place('out', { final: true })],
          [transition('t', ['a'], ['b']), transition('join', ['b', 'c'], ['out'])],
        ),
      );
      const error = errorOf(await ended(h));
      expect(error.code).toBe('workflow_deadlock');
      expect(error.message).not.toContain('guards refused');
      expect(error.message).toContain('b: 1');
      expect(h.state()).toMatchObject({ status: 'failed', steps: 1, marking: { b: [{ tokenId: 'tk2' }] } });
    });
  });

  describe('a final place marked while another branch fires', () => {
    it('starts nothing new and completes once the running firing ends', async () => {
      const h = start(
        definitionOf(
          [
            place('in', { initial: true }),
            place('p1'),
            place('p2'),
            place('p3'),
            place('q'),
            place('z'),
            place('r'),
            place('done', { final: true }),
          ],
          [
            transition('fork', ['in'], ['p1', 'p2']),
            transition('fast', ['p1'], ['done', 'p3']),
            transition('slow', ['p2'], ['q'], agentAction('slow')),
            transition('more', ['p3'], ['z']),
            transition('after', ['q'], ['r'], agentAction('after')),
          ],
        ),
      );
      await settle();
      expect(h.agents.calls).toHaveLength(1);
      expect(h.types()).toEqual([
        'token_created',
        'token_transitioned',
        'token_transitioned',
        'token_transitioned',
        'token_transitioned',
      ]);
      expect(h.execution.snapshot()).toMatchObject({ status: 'running', steps: 3 });
      h.agents.call(0).resolve('S');
      await ended(h);
      expect(h.agents.calls).toHaveLength(1);
      expect(h.events().map((e) => [e.type, e.place])).toEqual([
        ['token_created', 'in'],
        ['token_transitioned', 'p1'],
        ['token_transitioned', 'p2'],
        ['token_transitioned', 'done'],
        ['token_transitioned', 'p3'],
        ['token_transitioned', 'q'],
        ['workflow_completed', 'done'],
      ]);
      expect(h.lastEvent().data).toMatchObject({ final_places: ['done'], steps: 3, output: { q: 'hi' } });
      const state = h.state();
      expect(state).toMatchObject({ status: 'completed', steps: 3, output: { q: 'hi' } });
      expect(Object.keys(state.marking).sort()).toEqual(['done', 'p3', 'q']);
      expect(state.marking.q).toEqual([{ tokenId: 'tk6', data: { q: 'hi', slow: 'S' } }]);
    });

    it('completes at once when an initial place is final', async () => {
      const h = start(
        definitionOf([place('a', { initial: true, final: true })], [transition('t', ['a'], ['a'])]),
      );
      const terminal = await ended(h);
      expect(h.types()).toEqual(['token_created', 'workflow_completed']);
      expect(terminal.data).toMatchObject({ output: { q: 'hi' }, final_places: ['a'], steps: 0 });
    });
  });

  describe('max_steps', () => {
    const cycle = definitionOf(
      [place('a', { initial: true }), place('done', { final: true })],
      [
        transition('loop', ['a'], ['a']),
        transition('exit', ['a'], ['done'], { type: 'none' }, { field: 'exit', op: 'eq', value: true }),
      ],
    );

    it('fails a cycle once it has made maxSteps firings', async () => {
      const h = start(cycle, { exit: false }, { maxSteps: 5 });
      const error = errorOf(await ended(h));
      expect(h.types()).toEqual(['token_created', ...Array<string>(5).fill('token_transitioned'), 'error']);
      expect(error).toEqual({
        code: WorkflowErrorCode.MaxStepsExceeded,
        message: expect.stringContaining('5'),
        retryable: false,
      });
      expect(h.state()).toMatchObject({ status: 'failed', steps: 5, error });
    });

    it('allows exactly maxSteps firings', async () => {
      const h = start(
        definitionOf(
          [place('a', { initial: true }), place('b'), place('c', { final: true })],
          [transition('t1', ['a'], ['b']), transition('t2', ['b'], ['c'])],
        ),
        { q: 'hi' },
        { maxSteps: 2 },
      );
      await ended(h);
      expect(h.state()).toMatchObject({ status: 'completed', steps: 2 });
    });

    // The firing refused by max_steps must not consume its token: the failed run's marking still shows it.
    it('keeps the token of the refused firing in the marking', async () => {
      const h = start(cycle, { exit: false }, { maxSteps: 5 });
      await ended(h);
      expect(h.state().marking).toEqual({ a: [{ tokenId: 'tk6', data: { exit: false } }] });
    });
  });

  describe('timeout', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
    afterEach(() => jest.useRealTimers());

    const oneAgent = definitionOf(
      [place('in', { initial: true }), place('out', { final: true })],
      [transition('ask', ['in'], ['out'], agentAction('writer'))],
    );

    it('fails with workflow_timeout after timeoutMs and aborts the agent', async () => {
      const h = start(oneAgent, { q: 'hi' }, { timeoutMs: 1_000 });
      const { signal } = h.agents.call(0).run;
      jest.advanceTimersByTime(999);
      await settle();
      expect(h.types()).toEqual(['token_created']);
      expect(signal.aborted).toBe(false);
      jest.advanceTimersByTime(1);
      expect(signal.aborted).toBe(true);
      const error = errorOf(await ended(h));
      expect(error).toEqual({
        code: WorkflowErrorCode.Timeout,
        message: expect.stringContaining('1000 ms'),
        retryable: false,
      });
      expect(h.state()).toMatchObject({ status: 'failed', steps: 1, error, active: [] });
      // The agent's answer arriving later changes nothing.
      h.agents.call(0).resolve('late');
      await settle();
      expect(h.types()).toEqual(['token_created', 'error']);
    });

    it('clears the timer when the run completes', async () => {
      const h = start(oneAgent, { q: 'hi' }, { timeoutMs: 1_000 });
      h.agents.call(0).resolve('A');
      await ended(h);
      const published = h.runWriter.published.length;
      const summaries = h.runWriter.summaries.length;
      expect(jest.getTimerCount()).toBe(0);
      jest.advanceTimersByTime(5_000);
      await settle();
      expect(h.runWriter.published).toHaveLength(published);
      expect(h.runWriter.summaries).toHaveLength(summaries);
      expect(h.state().status).toBe('completed');
    });
  });

  describe('cancel and stop', () => {
    const oneAgent = definitionOf(
      [place('in', { initial: true }), place('out', { final: true })],
      [transition('ask', ['in'], ['out'], agentAction('writer'))],
    );

    it('cancel() ends the run as cancelled, aborts its agent, and happens once', async () => {
      const h = start(oneAgent);
      const { signal } = h.agents.call(0).run;
      await settle();
      h.execution.cancel();
      expect(signal.aborted).toBe(true);
      const error = errorOf(await ended(h));
      expect(error).toEqual({
        code: WorkflowErrorCode.Cancelled,
        message: expect.any(String),
        retryable: false,
      });
      expect(h.state()).toMatchObject({ status: 'cancelled', error, steps: 1, active: [] });
      const published = h.runWriter.published.length;
      const summaries = h.runWriter.summaries.length;
      h.execution.cancel();
      h.execution.stop();
      await settle();
      expect(h.runWriter.published).toHaveLength(published);
      expect(h.definitionWriter.published).toHaveLength(published);
      expect(h.runWriter.summaries).toHaveLength(summaries);
      expect(h.types()).toEqual(['token_created', 'error']);
      expect(h.execution.snapshot().status).toBe('cancelled');
    });

    it('abandon() (lease lost) stops executing without publishing or writing anything', async () => {
      const h = start(oneAgent);
      await settle();
      const published = h.runWriter.published.length;
      const summaries = h.runWriter.summaries.length;
      h.execution.abandon();
      expect(h.agents.call(0).run.signal.aborted).toBe(true);
      await h.execution.done;
      await settle();
      expect(h.runWriter.published).toHaveLength(published);
      expect(h.runWriter.summaries).toHaveLength(summaries);
      expect(h.types()).toEqual(['token_created']);
    });

    it('stop() ends the run with a retryable service_unavailable', async () => {
      const h = start(oneAgent);
      h.execution.stop();
      expect(h.agents.call(0).run.signal.aborted).toBe(true);
      const error = errorOf(await ended(h));
      expect(error).toEqual({
        code: WorkflowErrorCode.NodeStopping,
        message: expect.any(String),
        retryable: true,
      });
      expect(error.code).toBe('service_unavailable');
      expect(h.state()).toMatchObject({ status: 'failed', error });
      h.execution.cancel();
      await settle();
      expect(h.types()).toEqual(['token_created', 'error']);
      expect(h.state().status).toBe('failed');
    });

    // Events an agent emits after the run has ended are dropped (AgentRunner flushes its batched progress when
    // aborted by cancel() or the timeout): nothing may follow the event flagged `last`.
    it('publishes nothing after the last event, even what an aborted agent emits', async () => {
      const h = start(oneAgent);
      // As the real runner does: the abort ends the completion stream a little later, then progress flushes.
      h.agents.onAbort = (run) =>
        setImmediate(() =>
          run.emit({
            type: 'agent_progress',
            agentId: 'writer',
            data: { content: 'partial', progress: 0.1 },
          }),
        );
      h.execution.cancel();
      await h.execution.done;
      await settle();
      expect(h.types()).toEqual(['token_created', 'error']);
      expect(h.runWriter.published.at(-1)?.last).toBe(true);
    });
  });

  describe('token data size', () => {
    const values = { big: 'x'.repeat(100) };
    const sized = definitionOf(
      [place('in', { initial: true }), place('out', { final: true })],
      [transition('grow', ['in'], ['out'], fn('set', { values }))],
    );
    const bytes = Buffer.byteLength(JSON.stringify({ q: 'hi', ...values }));

    it('fails with token_data_too_large when an action makes the data too large', async () => {
      const h = start(sized, { q: 'hi' }, { maxTokenData: bytes - 1 });
      const error = errorOf(await ended(h));
      expect(h.types()).toEqual(['token_created', 'function_executed', 'error']);
      expect(error).toEqual({
        code: WorkflowErrorCode.TokenDataTooLarge,
        message: expect.stringContaining('grow'),
        retryable: false,
        transition: 'grow',
      });
      expect(h.state()).toMatchObject({ status: 'failed', steps: 1, error, marking: {} });
    });

    it('accepts data of exactly maxTokenData bytes', async () => {
      const h = start(sized, { q: 'hi' }, { maxTokenData: bytes });
      await ended(h);
      expect(h.state()).toMatchObject({ status: 'completed', output: { q: 'hi', ...values } });
    });
  });

  describe('function actions', () => {
    it('emits FUNCTION_EXECUTED then TOKEN_TRANSITIONED with the new data', async () => {
      const h = start(
        definitionOf(
          [place('in', { initial: true }), place('out', { final: true })],
          [transition('setter', ['in'], ['out'], fn('set', { values: { lang: 'en', q: 'over' } }))],
        ),
      );
      await ended(h);
      const data = { q: 'over', lang: 'en' };
      expect(h.events().map((e) => [e.type, e.data])).toEqual([
        ['token_created', { token_data: { q: 'hi' } }],
        ['function_executed', { transition: 'setter', function: 'set', token_data: data }],
        [
          'token_transitioned',
          { transition: 'setter', from: ['in'], to: 'out', consumed: ['tk1'], token_data: data },
        ],
        ['workflow_completed', { output: data, final_places: ['out'], steps: 1, usage: ZERO_USAGE }],
      ]);
    });

    it('fails with function_failed naming the transition when the function fails', async () => {
      const h = start(
        definitionOf(
          [place('in', { initial: true }), place('out', { final: true })],
          [transition('parse', ['in'], ['out'], fn('parse_json', { field: 'raw' }))],
        ),
        { raw: '{not json' },
      );
      const error = errorOf(await ended(h));
      expect(h.types()).toEqual(['token_created', 'error']);
      expect(error).toEqual({
        code: WorkflowErrorCode.FunctionFailed,
        message: "parse_json: field 'raw' is not valid JSON",
        retryable: false,
        transition: 'parse',
      });
      expect(h.state()).toMatchObject({ status: 'failed', steps: 1, error });
    });
  });

  describe('agent actions', () => {
    const oneAgent = definitionOf(
      [place('in', { initial: true }), place('out', { final: true })],
      [transition('ask', ['in'], ['out'], agentAction('writer', 'answer'))],
    );

    it('writes the answer under the output key, forwards its events and adds its usage', async () => {
      const h = start(oneAgent, { q: 'hi' });
      const call = h.agents.call(0);
      expect(call.run).toMatchObject({
        transition: 'ask',
        action: agentAction('writer', 'answer'),
        data: { q: 'hi' },
        summary: { runId: 'run_1' },
      });
      call.run.emit({ type: 'agent_started', agentId: 'writer', data: { executionId: 'exec_1' } });
      call.run.onEnd({ promptTokens: 3, completionTokens: 4, totalTokens: 7 });
      call.run.emit({ type: 'agent_completed', agentId: 'writer', data: { executionId: 'exec_1' } });
      call.resolve('Hello!');
      const terminal = await ended(h);
      const data = { q: 'hi', answer: 'Hello!' };
      expect(h.types()).toEqual([
        'token_created',
        'agent_started',
        'agent_completed',
        'token_transitioned',
        'workflow_completed',
      ]);
      expect(h.events()[1]).toEqual({
        type: 'agent_started',
        agentId: 'writer',
        data: { executionId: 'exec_1' },
        workflowId: 'wf',
        runId: 'run_1',
      });
      expect(h.events()[3]!.data).toMatchObject({ token_data: data });
      const usage = { promptTokens: 3, completionTokens: 4, totalTokens: 7, reasoningTokens: 0 };
      expect(terminal.data).toEqual({ output: data, final_places: ['out'], steps: 1, usage });
      expect(h.state()).toMatchObject({ status: 'completed', output: data, usage });
    });

    it('ends the run with exactly the StepError the agent throws', async () => {
      const h = start(oneAgent);
      const stepError: RunError = {
        code: 'provider_error',
        message: "Agent 'writer' failed: upstream 502",
        retryable: true,
        transition: 'ask',
        agent: 'writer',
      };
      h.agents.call(0).reject(new StepError(stepError));
      const terminal = await ended(h);
      expect(h.types()).toEqual(['token_created', 'error']);
      expect(terminal).toEqual({
        type: 'error',
        agentId: 'writer',
        data: { error: stepError },
        workflowId: 'wf',
        runId: 'run_1',
      });
      expect(h.state()).toMatchObject({ status: 'failed', steps: 1, error: stepError, marking: {} });
    });

    it('reports any other failure as a retryable internal_error of the transition', async () => {
      const h = start(oneAgent);
      h.agents.call(0).reject(new TypeError('boom'));
      const error = errorOf(await ended(h));
      expect(error).toEqual({
        code: WorkflowErrorCode.Internal,
        message: expect.stringContaining('ask'),
        retryable: true,
        transition: 'ask',
      });
      expect(error.message).not.toContain('boom');
    });

    it('a failing branch ends the run; the other branch finishing later changes nothing', async () => {
      const h = start(
        definitionOf(
          [
            place('i1', { initial: true }),
            place('i2', { initial: true }),
            place('o1'),
            place('o2', { final: true }),
          ],
          [
            transition('a1', ['i1'], ['o1'], agentAction('one')),
            transition('a2', ['i2'], ['o2'], agentAction('two')),
          ],
        ),
      );
      h.agents.honourAbort = false;
      const failure: RunError = {
        code: 'rate_limited',
        message: 'slow down',
        retryable: true,
        transition: 'a1',
      };
      h.agents.call(0).reject(new StepError(failure));
      await settle();
      expect(h.agents.call(1).run.signal.aborted).toBe(true);
      h.agents.call(1).resolve('B');
      await settle();
      expect(errorOf(await ended(h))).toEqual(failure);
      expect(h.types()).toEqual(['token_created', 'token_created', 'error']);
      expect(h.state()).toMatchObject({ status: 'failed', steps: 2, error: failure });
    });
  });

  describe('webhook actions', () => {
    const hook: WebhookAction = {
      type: 'webhook',
      url: 'https://hooks.example.com/x',
      method: 'POST',
      headers: { authorization: 'Bearer s3cr3t-value' },
      timeoutMs: 1_000,
    };
    const hooked = definitionOf(
      [place('in', { initial: true }), place('out', { final: true })],
      [transition('notify', ['in'], ['out'], hook)],
    );

    it('records the host, status and duration; the data is what the client returns', async () => {
      const h = start(hooked, { a: 1 }, {}, false);
      h.webhooks.answer = { summary: 'ok' };
      h.execution.begin();
      await ended(h);
      expect(h.webhooks.calls).toEqual([
        { action: hook, call: { workflowId: 'wf', runId: 'run_1', transition: 'notify', data: { a: 1 } } },
      ]);
      expect(h.events().find((e) => e.type === 'function_executed')?.data).toEqual({
        transition: 'notify',
        function: 'webhook',
        host: 'hooks.example.com',
        status: 200,
        duration_ms: 3,
        token_data: { a: 1, summary: 'ok' },
      });
      expect(h.state().output).toEqual({ a: 1, summary: 'ok' });
    });

    it('fails the run with the one generic message; the detail and the headers stay out of it', async () => {
      const h = start(hooked, {}, {}, false);
      h.webhooks.fail = 'refused: loopback address 127.0.0.1';
      h.execution.begin();
      const error = errorOf(await ended(h));
      expect(error).toEqual({
        code: WorkflowErrorCode.WebhookFailed,
        message: 'The webhook call failed.',
        retryable: true,
        transition: 'notify',
      });
      const everything = JSON.stringify([h.runWriter.published, h.runWriter.summaries]);
      expect(everything).not.toContain('127.0.0.1');
      expect(everything).not.toContain('s3cr3t');
    });
  });
});
