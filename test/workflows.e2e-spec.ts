import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeadLetterService } from '../src/dead-letter/dead-letter.service';
import { startApp, type TestApp, withModels } from './support/app';
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
  type WorkflowEventData,
} from './support/workflows';

/** Test models: a slow one (to see branches overlap, and to cancel) and one whose provider always fails. */
const MODELS = withModels(
  [],
  {
    id: 'simulated/slow',
    provider: 'simulated',
    upstream: 'lorem',
    options: { tokens_per_second: 40, first_token_delay: 0 },
  },
  {
    id: 'simulated/broken',
    provider: 'simulated',
    upstream: 'lorem',
    options: { fail_after_chunks: 0, fail_with: 'provider_error' },
  },
);

const agent = (name: string, model: string, prompt: string, max_tokens = 8) => ({
  type: 'agent',
  agent: name,
  model,
  prompt,
  max_tokens,
});

describe('workflows over REST and SSE', () => {
  let t: TestApp;
  let hook: Server;
  let hookUrl: string;
  const hookCalls: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    // The webhook fake listens on loopback, which webhooks may reach only where the operator allows it.
    t = await startApp(MODELS, {
      workflows: { progress_interval: '0ms', webhooks: { allow: ['127.0.0.1'] } },
    });
    // A webhook that answers with a summary of what it got, or hangs for /slow.
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (req.url === '/slow') return;
        const call = JSON.parse(body) as Record<string, unknown>;
        hookCalls.push(call);
        if (req.url === '/fail') {
          res.writeHead(500).end('{"error":"no"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ reviewed: true, seen: Object.keys(call.data as object).sort() }));
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    hook.closeAllConnections();
    await new Promise((resolve) => hook.close(resolve));
    await t.close();
  });

  it('runs the shipped content_creation example on the simulated provider, every event in order', async () => {
    const shipped = (await (await fetch(`${t.url}/v1/workflows/content_creation`)).json()) as {
      definition: { transitions: Array<{ id: string }> };
      analysis: { complete: boolean; deadlocks: unknown[] };
      source: string;
    };
    expect(shipped.source).toBe('config');
    expect(shipped.definition.transitions.map((tr) => tr.id)).toEqual([
      'research',
      'write',
      'edit',
      'publish',
    ]);
    expect(shipped.analysis).toMatchObject({ complete: true, deadlocks: [] });

    const run = await startRun(t.url, 'content_creation', { topic: 'Petri nets' });
    expect(run).toMatchObject({ workflowId: 'content_creation', status: 'running' });
    expect(run.runId).toMatch(/^run_[0-9a-f]{32}$/);

    const { status, events, data } = await runEvents(t.url, run.runId);
    expect(status).toBe(200);
    expect(collapse(data.map((e) => e.type))).toEqual(CONTENT_CREATION_ORDER);
    // SSE names each event and numbers it without gaps.
    expect(events.map((e) => e.event)).toEqual(data.map((e) => e.type));
    expect(data.map((e) => e.sequence)).toEqual(data.map((_, i) => i + 1));
    expect(events.map((e) => e.id)).toEqual(data.map((e) => String(e.sequence)));

    // The agents run in order and each one's streamed content is what it wrote into the token.
    const completed = data.filter((e) => e.type === 'AGENT_COMPLETED');
    expect(completed.map((e) => e.agentId)).toEqual(['researcher', 'writer', 'editor']);
    const final = await getRun(t.url, run.runId);
    expect(final.status).toBe('completed');
    for (const [agentName, key] of [
      ['researcher', 'research'],
      ['writer', 'draft'],
      ['editor', 'article'],
    ] as const) {
      const streamed = data
        .filter((e) => e.type === 'AGENT_PROGRESS' && e.agentId === agentName)
        .map((e) => e.data.content as string)
        .join('');
      expect(streamed.length).toBeGreaterThan(0);
      expect(final.output?.[key]).toBe(streamed);
      const figures = data
        .filter((e) => e.type === 'AGENT_PROGRESS' && e.agentId === agentName)
        .map((e) => e.data.progress as number);
      expect(figures.every((p, i) => p > 0 && p < 1 && (i === 0 || p >= figures[i - 1]!))).toBe(true);
    }
    // The transitions move the token place to place, carrying the data.
    const moves = data.filter((e) => e.type === 'TOKEN_TRANSITIONED');
    expect(moves.map((e) => [e.data.from, e.data.to])).toEqual([
      [['brief'], 'researched'],
      [['researched'], 'drafted'],
      [['drafted'], 'edited'],
      [['edited'], 'published'],
    ]);
    const words = (final.output!.article as string).split(/\s+/).filter(Boolean).length;
    expect(final.output).toMatchObject({ topic: 'Petri nets', words });
    expect(data.find((e) => e.type === 'FUNCTION_EXECUTED')!.data).toMatchObject({
      transition: 'publish',
      function: 'word_count',
    });
    expect(data.at(-1)!.data).toMatchObject({ output: final.output, steps: 4 });
    expect(final.agents.map((a) => [a.agent, a.status])).toEqual([
      ['researcher', 'completed'],
      ['writer', 'completed'],
      ['editor', 'completed'],
    ]);
    expect(final.usage.totalTokens).toBeGreaterThan(0);
    expect(final.marking).toEqual({ published: [expect.objectContaining({ data: final.output })] });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/cb_workflow_runs_total\{status="completed"\} [1-9]/);
    expect(metrics).toContain('cb_active_streams{protocol="workflow"}');
  });

  it('fires independent branches at once and joins them', async () => {
    await createWorkflow(t.url, {
      id: 'fork-join',
      places: [
        { id: 'start', initial: true },
        { id: 'a' },
        { id: 'b' },
        { id: 'a_done' },
        { id: 'b_done' },
        { id: 'done', final: true },
      ],
      transitions: [
        { id: 'fork', inputs: ['start'], outputs: ['a', 'b'] },
        {
          id: 'left',
          inputs: ['a'],
          outputs: ['a_done'],
          action: agent('left', 'simulated/slow', 'L {{q}}', 6),
        },
        {
          id: 'right',
          inputs: ['b'],
          outputs: ['b_done'],
          action: agent('right', 'simulated/slow', 'R {{q}}', 6),
        },
        {
          id: 'join',
          inputs: ['a_done', 'b_done'],
          outputs: ['done'],
          action: { type: 'function', function: 'join', args: { fields: ['left', 'right'], output: 'both' } },
        },
      ],
    });
    const run = await startRun(t.url, 'fork-join', { q: 'x' });
    const { data } = await runEvents(t.url, run.runId);
    const types = data.map((e) => `${e.type}:${e.agentId ?? ''}`);
    // Both agents started before either completed: they ran at the same time.
    const firstCompleted = types.findIndex((s) => s.startsWith('AGENT_COMPLETED'));
    expect(types.slice(0, firstCompleted)).toEqual(
      expect.arrayContaining(['AGENT_STARTED:left', 'AGENT_STARTED:right']),
    );
    const joins = data.filter((e) => e.type === 'TOKEN_TRANSITIONED' && e.data.transition === 'join');
    expect(joins).toHaveLength(1);
    expect(joins[0]!.data.from).toEqual(['a_done', 'b_done']);
    const final = await getRun(t.url, run.runId);
    expect(final.status).toBe('completed');
    expect(final.output!.both).toBe(`${final.output!.left as string}\n\n${final.output!.right as string}`);
    expect(data.at(-1)!.type).toBe('WORKFLOW_COMPLETED');
  });

  it('routes by guards, and fails with workflow_deadlock when every guard refuses', async () => {
    const review = (withReject: boolean) => ({
      id: withReject ? 'review-both' : 'review-approve-only',
      places: [
        { id: 'scored', initial: true },
        { id: 'published', final: true },
        ...(withReject ? [{ id: 'rejected', final: true }] : []),
      ],
      transitions: [
        {
          id: 'approve',
          inputs: ['scored'],
          outputs: ['published'],
          guard: { field: 'score', op: 'gte', value: 7 },
        },
        ...(withReject
          ? [
              {
                id: 'reject',
                inputs: ['scored'],
                outputs: ['rejected'],
                guard: { field: 'score', op: 'lt', value: 7 },
              },
            ]
          : []),
      ],
    });
    await createWorkflow(t.url, review(true));
    await createWorkflow(t.url, review(false));

    const low = await startRun(t.url, 'review-both', { score: 3 });
    const lowEvents = (await runEvents(t.url, low.runId)).data;
    expect(lowEvents.map((e) => [e.type, e.place])).toEqual([
      ['TOKEN_CREATED', 'scored'],
      ['TOKEN_TRANSITIONED', 'rejected'],
      ['WORKFLOW_COMPLETED', 'rejected'],
    ]);
    const high = await startRun(t.url, 'review-both', { score: 9 });
    expect((await runEvents(t.url, high.runId)).data.at(-1)).toMatchObject({
      type: 'WORKFLOW_COMPLETED',
      place: 'published',
    });

    const blocked = await startRun(t.url, 'review-approve-only', { score: 3 });
    const blockedEvents = (await runEvents(t.url, blocked.runId)).data;
    expect(blockedEvents.map((e) => e.type)).toEqual(['TOKEN_CREATED', 'ERROR']);
    expect(blockedEvents[1]!.data.error).toMatchObject({ code: 'workflow_deadlock', retryable: false });
    expect((blockedEvents[1]!.data.error as { message: string }).message).toContain(
      'guards refused: approve',
    );
    const state = await getRun(t.url, blocked.runId);
    expect(state).toMatchObject({ status: 'failed', error: { code: 'workflow_deadlock' } });
    expect(state.marking).toEqual({ scored: [expect.objectContaining({ data: { score: 3 } })] });
  });

  it('ends a run whose agent fails with ERROR, marks it failed and dead-letters the agent request', async () => {
    await createWorkflow(t.url, oneStep('doomed', agent('breaker', 'simulated/broken', 'hi'), 'call'));
    const run = await startRun(t.url, 'doomed', {});
    const { data } = await runEvents(t.url, run.runId);
    expect(data.map((e) => e.type)).toEqual(['TOKEN_CREATED', 'AGENT_STARTED', 'ERROR']);
    expect(data[2]).toMatchObject({
      agentId: 'breaker',
      data: { error: { code: 'provider_error', transition: 'call', agent: 'breaker' } },
    });
    const state = await getRun(t.url, run.runId);
    expect(state).toMatchObject({ status: 'failed', error: { code: 'provider_error', agent: 'breaker' } });
    expect(state.agents[0]).toMatchObject({ agent: 'breaker', status: 'failed' });

    const letters = t.app.get(DeadLetterService);
    await waitFor('the dead letter', async () =>
      (await letters.list()).data.some((l) => l.requestId === `${run.runId}/call`),
    );
    const letter = (await letters.list()).data.find((l) => l.requestId === `${run.runId}/call`)!;
    expect(letter).toMatchObject({
      protocol: 'workflow',
      errorKind: 'provider_error',
      completionId: state.agents[0]!.completionId,
    });
  });

  it('calls webhooks with the token data and keeps the fields it maps; a failing one ends the run', async () => {
    await createWorkflow(
      t.url,
      oneStep(
        'hooked',
        {
          type: 'webhook',
          url: `${hookUrl}/ok`,
          headers: { 'x-secret': 's3cr3t' },
          response: { fields: { reviewed: 'reviewed', seen: 'seen' } },
        },
        'notify',
      ),
    );
    const run = await startRun(t.url, 'hooked', { a: 1 });
    const { data } = await runEvents(t.url, run.runId);
    expect(data.map((e) => e.type)).toEqual([
      'TOKEN_CREATED',
      'FUNCTION_EXECUTED',
      'TOKEN_TRANSITIONED',
      'WORKFLOW_COMPLETED',
    ]);
    expect(data[1]!.data).toMatchObject({
      function: 'webhook',
      status: 200,
      token_data: { a: 1, reviewed: true },
    });
    expect(hookCalls.at(-1)).toMatchObject({
      workflowId: 'hooked',
      runId: run.runId,
      transition: 'notify',
      data: { a: 1 },
    });
    expect((await getRun(t.url, run.runId)).output).toEqual({ a: 1, reviewed: true, seen: ['a'] });
    // The header's value is not shown back.
    const shown = (await (await fetch(`${t.url}/v1/workflows/hooked`)).json()) as { definition: unknown };
    expect(JSON.stringify(shown)).not.toContain('s3cr3t');

    // However it fails, the run says only that it did.
    for (const [id, path, timeout, message] of [
      ['hook-500', '/fail', '5s', 'The webhook call failed.'],
      ['hook-slow', '/slow', '200ms', 'The webhook call failed.'],
    ] as const) {
      await createWorkflow(
        t.url,
        oneStep(id, { type: 'webhook', url: `${hookUrl}${path}`, timeout }, 'notify'),
      );
      const failing = await startRun(t.url, id, {});
      const last = (await runEvents(t.url, failing.runId)).data.at(-1)!;
      expect(last.type).toBe('ERROR');
      expect(last.data.error).toMatchObject({ code: 'webhook_failed', transition: 'notify' });
      expect((last.data.error as { message: string }).message).toBe(message);
    }
  });

  it('cancels a run: its agent stops and the run ends with ERROR cancelled', async () => {
    await createWorkflow(t.url, oneStep('long', agent('thinker', 'simulated/slow', 'x', 400), 'think'));
    const run = await startRun(t.url, 'long', {});
    const seen: WorkflowEventData[] = [];
    const reading = readSse(await fetch(`${t.url}/v1/workflow-runs/${run.runId}/events`), (e) =>
      seen.push(JSON.parse(e.data) as WorkflowEventData),
    );
    await waitFor('progress', () => seen.some((e) => e.type === 'AGENT_PROGRESS'));
    const res = await postJson(`${t.url}/v1/workflow-runs/${run.runId}/cancel`, {});
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ cancelled: true, status: 'cancelled' });
    await reading;
    expect(seen.at(-1)).toMatchObject({ type: 'ERROR', data: { error: { code: 'cancelled' } } });
    expect(await getRun(t.url, run.runId)).toMatchObject({ status: 'cancelled' });
    // Cancelling again changes nothing.
    const again = await postJson(`${t.url}/v1/workflow-runs/${run.runId}/cancel`, {});
    expect(await again.json()).toMatchObject({ cancelled: false, status: 'cancelled' });
  });

  it('gives a late subscriber the whole history, resumes after an id, and tells a finished EventSource to stop', async () => {
    const run = await startRun(t.url, 'content_creation', { topic: 'late' });
    const whole = await runEvents(t.url, run.runId);
    await waitFor(
      'the run to be finished',
      async () => (await getRun(t.url, run.runId)).status === 'completed',
    );
    const late = await runEvents(t.url, run.runId);
    expect(late.data).toEqual(whole.data);

    const resumed = await runEvents(t.url, run.runId, '?after=5');
    expect(resumed.data).toEqual(whole.data.slice(5));
    const last = whole.data.at(-1)!.sequence;
    const done = await fetch(`${t.url}/v1/workflow-runs/${run.runId}/events`, {
      headers: { 'last-event-id': String(last) },
    });
    expect(done.status).toBe(204);
  });

  it("resumes a running run's events mid-run, to its end", async () => {
    await createWorkflow(t.url, {
      id: 'two-step',
      places: [{ id: 'in', initial: true }, { id: 'mid' }, { id: 'out', final: true }],
      transitions: [
        {
          id: 'think',
          inputs: ['in'],
          outputs: ['mid'],
          action: agent('thinker', 'simulated/slow', 'x', 12),
        },
        { id: 'done', inputs: ['mid'], outputs: ['out'] },
      ],
    });
    const run = await startRun(t.url, 'two-step', {});
    await waitFor('progress', async () => (await getRun(t.url, run.runId)).agents.length === 1);
    // Resuming mid-run after the first event: the rest arrives live and the stream ends with the run.
    const tail = await runEvents(t.url, run.runId, '?after=1');
    expect(tail.data.at(-1)!.type).toBe('WORKFLOW_COMPLETED');
    expect(tail.data[0]!.sequence).toBe(2);
  });

  it('follows every run of a definition, live, over SSE', async () => {
    const controller = new AbortController();
    const seen: WorkflowEventData[] = [];
    const response = await fetch(`${t.url}/v1/workflows/content_creation/events`, {
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reading = readSse(response, (e) => seen.push(JSON.parse(e.data) as WorkflowEventData)).catch(
      () => undefined,
    );
    const first = await startRun(t.url, 'content_creation', { topic: 'one' });
    const second = await startRun(t.url, 'content_creation', { topic: 'two' });
    await waitFor(
      'both runs to complete',
      () => seen.filter((e) => e.type === 'WORKFLOW_COMPLETED').length === 2,
      5000,
    );
    controller.abort();
    await reading;
    for (const run of [first, second]) {
      expect(collapse(seen.filter((e) => e.runId === run.runId).map((e) => e.type))).toEqual(
        CONTENT_CREATION_ORDER,
      );
    }
    expect(seen.map((e) => e.sequence)).toEqual([...seen.keys()].map((i) => seen[0]!.sequence + i));
  });

  it('refuses invalid definitions, unknown ids and bad input with OpenAI-style errors', async () => {
    const bad = async (body: unknown, status: number, code: string, param?: string, message?: string) => {
      const res = await postJson(`${t.url}/v1/workflows`, body);
      const json = (await res.json()) as {
        error: { code: string; param: string | null; message: string; type: string };
      };
      expect([res.status, json.error.code]).toEqual([status, code]);
      if (param !== undefined) expect(json.error.param).toBe(param);
      if (message !== undefined) expect(json.error.message).toContain(message);
    };
    const { id: _id, ...base } = oneStep('unused', undefined, 'go');
    await bad(
      { ...base, transitions: [{ id: 'go', inputs: ['nowhere'], outputs: ['out'] }] },
      400,
      'invalid_workflow',
      'transitions[0].inputs[0]',
      "unknown place 'nowhere'",
    );
    await bad(
      { ...base, places: [{ id: 'in' }, { id: 'out', final: true }] },
      400,
      'invalid_workflow',
      undefined,
      'initial',
    );
    await bad(
      {
        places: [{ id: 'in', initial: true }, { id: 'mid' }, { id: 'stuck' }, { id: 'out', final: true }],
        transitions: [
          { id: 'a', inputs: ['in'], outputs: ['mid'] },
          { id: 'b', inputs: ['mid'], outputs: ['out'] },
          { id: 'c', inputs: ['mid'], outputs: ['stuck'] },
        ],
      },
      400,
      'invalid_workflow',
      undefined,
      'deadlock',
    );
    await bad(
      {
        ...base,
        transitions: [{ id: 'go', inputs: ['in'], outputs: ['out'], action: agent('x', 'nope/model', 'hi') }],
      },
      400,
      'invalid_workflow',
      'transitions[0].action.model',
    );
    await bad('not an object', 400, 'invalid_request');
    await bad({ ...base, places: 'x' }, 400, 'invalid_workflow', 'places');
    await bad({ ...base, id: 'content_creation' }, 409, 'conflict', 'id');
    const created = await createWorkflow(t.url, { ...base, name: 'Made up id' });
    expect(created.id).toMatch(/^made-up-id-[0-9a-f]{8}$/);
    await bad({ ...base, id: created.id }, 409, 'conflict');

    const unknown = await fetch(`${t.url}/v1/workflows/nope`);
    expect([unknown.status, ((await unknown.json()) as { error: { code: string } }).error.code]).toEqual([
      404,
      'not_found',
    ]);
    for (const path of [
      '/v1/workflow-runs/run_nope',
      '/v1/workflow-runs/run_nope/events',
      '/v1/workflow-runs/nope',
    ]) {
      const res = await fetch(`${t.url}${path}`);
      expect([path, res.status]).toEqual([path, 404]);
    }
    const noRun = await postJson(`${t.url}/v1/workflows/nope/runs`, { input: {} });
    expect(noRun.status).toBe(404);
    const badInput = await postJson(`${t.url}/v1/workflows/content_creation/runs`, { input: [1, 2] });
    expect([badInput.status, ((await badInput.json()) as { error: { param: string } }).error.param]).toEqual([
      400,
      'input',
    ]);
    const badAfter = await fetch(`${t.url}/v1/workflows/content_creation/events?after=-1`);
    expect(badAfter.status).toBe(400);
    const pastEnd = await fetch(`${t.url}/v1/workflows/content_creation/events?after=999999`);
    expect([pastEnd.status, ((await pastEnd.json()) as { error: { param: string } }).error.param]).toEqual([
      400,
      'afterSequence',
    ]);
    const typo = await postJson(`${t.url}/v1/workflows/content_creation/runs`, { inputs: { topic: 'x' } });
    expect([typo.status, ((await typo.json()) as { error: { param: string } }).error.param]).toEqual([
      400,
      'inputs',
    ]);
    const deep = `{"input":${'{"d":'.repeat(6000)}{}${'}'.repeat(6000)}}`;
    const tooDeep = await postJson(`${t.url}/v1/workflows/content_creation/runs`, deep);
    expect(tooDeep.status).toBe(400);
    // A pattern RE2 cannot express (a backreference) is refused, naming where it is.
    const slowRegex = await postJson(`${t.url}/v1/workflows`, {
      places: [
        { id: 'in', initial: true },
        { id: 'out', final: true },
      ],
      transitions: [
        {
          id: 'go',
          inputs: ['in'],
          outputs: ['out'],
          guard: { field: 'x', op: 'matches', value: '^(a+)\\1$' },
        },
      ],
    });
    expect([
      slowRegex.status,
      ((await slowRegex.json()) as { error: { param: string } }).error.param,
    ]).toEqual([400, 'transitions[0].guard.value']);
  });
});

describe('shipped workflow files', () => {
  it('skips a shipped workflow whose models are not configured, and refuses to boot on a broken file', async () => {
    const noSimulated = await startApp({ providers: { simulated: { enabled: false } } });
    try {
      expect((await fetch(`${noSimulated.url}/v1/workflows/content_creation`)).status).toBe(404);
    } finally {
      await noSimulated.close();
    }
    const dir = mkdtempSync(join(tmpdir(), 'cb-workflows-'));
    try {
      writeFileSync(
        join(dir, 'broken.yml'),
        'id: broken\nplaces: [{ id: a, initial: true }]\ntransitions: []\n',
      );
      await expect(startApp({ workflows: { directory: dir } })).rejects.toThrow(
        /Workflow file .*broken\.yml is invalid: .*final place/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
