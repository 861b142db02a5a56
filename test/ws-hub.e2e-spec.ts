import { ActiveStreams } from '../src/streaming/active-streams.service';
import { StreamHub } from '../src/streaming/hub/stream-hub.service';
import { startApp, type TestApp, withModels } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import { hubsListening } from './support/hub-cluster';
import { testPrefix } from './support/redis-prefix';
import { contentOf, jsonFrames, postJson, readSse, type SseResult } from './support/sse-client';
import { sleep, waitFor } from './support/wait';
import { createWorkflow, oneStep, startRun } from './support/workflows';
import { type Message, WsTestClient } from './support/ws-client';

const SLOW_ECHO = {
  id: 'test/echo-slow',
  provider: 'simulated',
  upstream: 'echo',
  options: { tokens_per_second: 100 },
};
const SLOW_LOREM = {
  id: 'test/lorem-slow',
  provider: 'simulated',
  upstream: 'lorem',
  options: { tokens_per_second: 50, length: 5000 },
};
const MODELS = withModels([], SLOW_ECHO, SLOW_LOREM);
const user = (content: string) => [{ role: 'user', content }];
const PROMPT = 'every word of this answer comes back through the stream hub to a socket that follows it';

/** Starts a streaming completion over POST (SSE); its id from X-Completion-Id, its whole result later. */
async function startSse(
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ completionId: string; done: Promise<SseResult> }> {
  const response = await postJson(
    `${url}/v1/chat/completions`,
    { stream: true, stream_options: { include_usage: true }, ...body },
    { headers },
  );
  const completionId = response.headers.get('x-completion-id');
  if (response.status !== 200 || !completionId) throw new Error(`not started: ${response.status}`);
  return { completionId, done: readSse(response) };
}

/** The usage an SSE stream's usage chunk reports, in the WebSocket's field names. */
function usageOf(result: SseResult): Record<string, number> {
  const chunk = jsonFrames(result).find((f) => f.usage) as
    { usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } } | undefined;
  if (!chunk) throw new Error('no usage chunk');
  return {
    promptTokens: chunk.usage.prompt_tokens,
    completionTokens: chunk.usage.completion_tokens,
    totalTokens: chunk.usage.total_tokens,
  };
}

const chunksOf = (messages: Message[], completionId: string) =>
  messages.filter((m) => m.completionId === completionId && m.type === 'content_chunk');
const textOf = (messages: Message[]) => messages.map((m) => m.content as string).join('');
const isEnd = (m: Message) => m.type === 'completed' || m.type === 'error';

/** `/ws/stream` on the stream hub: following any completion by its id, the completion and workflow streams. */
describe('WebSocket /ws/stream on the stream hub', () => {
  let t: TestApp;
  const clients: WsTestClient[] = [];
  const connect = async (app: TestApp = t, headers?: Record<string, string>) => {
    const client = await WsTestClient.connect(app.url, headers ? { headers } : {});
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    t = await startApp(MODELS);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(() => t.close());

  it('subscribe_completion follows a completion started over POST (SSE): the same text and usage', async () => {
    const client = await connect();
    const sse = await startSse(t.url, { model: 'test/echo-slow', messages: user(PROMPT) });
    client.send({ type: 'subscribe_completion', completionId: sse.completionId });
    const ack = await client.next('the ack', (m) => m.type === 'subscribed');
    expect(ack).toMatchObject({ completions: [sse.completionId] });
    const end = await client.end(sse.completionId);
    const result = await sse.done;
    expect(contentOf(result)).toBe(PROMPT);
    expect(textOf(chunksOf(client.messages, sse.completionId))).toBe(PROMPT);
    expect(end).toMatchObject({
      type: 'completed',
      completionId: sse.completionId,
      usage: usageOf(result),
      finishReason: 'stop',
      model: 'test/echo-slow',
      provider: 'simulated',
    });
    // Not the socket's own: no client id; every event numbered 1, 2, 3... as the hub numbers it.
    const mine = client.of(sse.completionId);
    expect(mine.every((m) => m.id === undefined)).toBe(true);
    expect(mine.map((m) => m.seq)).toEqual(mine.map((_, i) => i + 1));
    // Its SSE frames carry the same numbers (id: <completionId>:<seq>).
    expect(result.events.map((e) => e.id)).toContain(`${sse.completionId}:${end.seq as number}`);
  });

  it('afterSequence resumes with exactly the tail', async () => {
    const sse = await startSse(t.url, { model: 'test/echo-slow', messages: user(PROMPT) });
    await sse.done;
    const whole = await connect();
    whole.send({ type: 'subscribe_completion', completionId: sse.completionId });
    await whole.end(sse.completionId);
    const all = whole.of(sse.completionId);

    const tail = await connect();
    tail.send({ type: 'subscribe_completion', completionId: sse.completionId, afterSequence: 5 });
    await tail.end(sse.completionId);
    const resumed = tail.of(sse.completionId).filter((m) => m.type !== 'subscribed');
    expect(resumed).toEqual(all.filter((m) => (m.seq as number) > 5));
    expect(resumed[0]?.seq).toBe(6);
  });

  it('a cancel message cancels the completion in the hub: its upstream stops, its followers hear it', async () => {
    const owner = await connect();
    owner.send({ type: 'completion', id: 'long', model: 'test/lorem-slow', messages: user('x') });
    const first = await owner.next('a chunk', (m) => m.id === 'long' && m.type === 'content_chunk');
    const completionId = first.completionId as string;
    expect(completionId).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    const watcher = await connect();
    watcher.send({ type: 'subscribe_completion', completionId });
    await watcher.next('the ack', (m) => m.type === 'subscribed');

    owner.send({ type: 'cancel', id: 'long' });
    expect(await owner.end('long')).toMatchObject({
      type: 'error',
      id: 'long',
      completionId,
      error: { code: 'cancelled' },
    });
    expect(await watcher.end(completionId)).toMatchObject({
      type: 'error',
      completionId,
      error: { code: 'cancelled' },
    });
    await waitFor('the upstream aborted', () => t.app.get(ActiveStreams).size === 0);
    expect(await t.app.get(StreamHub).summary(completionId)).toMatchObject({ status: 'cancelled' });
  });

  it('the completion stream delivers a completion started over SSE, and the workflow stream every run', async () => {
    const client = await connect();
    client.send({ type: 'subscribe', streams: ['completion', 'workflow'] });
    await client.next('the ack', (m) => m.type === 'subscribed');
    const sse = await startSse(t.url, { model: 'test/echo-slow', messages: user(PROMPT) });
    const end = await client.end(sse.completionId);
    expect(end).toMatchObject({ type: 'completed', usage: usageOf(await sse.done) });
    expect(textOf(chunksOf(client.messages, sse.completionId))).toBe(PROMPT);
    expect(client.of(sse.completionId).every((m) => m.id === undefined)).toBe(true);

    // The socket's own completions come once, with its id (not again from the completion stream).
    client.send({ type: 'completion', id: 'own', model: 'echo', messages: user('mine') });
    const own = await client.end('own');
    expect(client.of(own.completionId as string).every((m) => m.id === 'own')).toBe(true);

    const definition = `ws-runs-${testPrefix('wf').slice(3, 11)}`;
    await createWorkflow(t.url, oneStep(definition, undefined));
    const run = await startRun(t.url, definition, { topic: 'x' });
    await client.next("the run's end", (m) => m.type === 'workflow_completed' && m.runId === run.runId);
    const events = client.messages.filter((m) => m.runId === run.runId);
    expect(events[0]?.type).toBe('token_created');
    expect(events.map((m) => m.type)).toContain('workflow_transition');
    expect(events.at(-1)?.type).toBe('workflow_completed');
    expect(events.every((m) => m.workflowId === definition && m.sequence === 0)).toBe(true);

    // Unsubscribed, nothing more comes.
    client.send({ type: 'unsubscribe', streams: ['completion', 'workflow'] });
    await client.next('the ack', (m) => m.type === 'subscribed' && (m.streams as string[]).length === 0);
    const count = client.messages.length;
    const later = await startSse(t.url, { model: 'echo', messages: user('unseen') });
    await later.done;
    await startRun(t.url, definition, {});
    await sleep(300);
    expect(client.messages.slice(count)).toEqual([]);
  });

  it('refuses an unknown completion with not_found and carries on', async () => {
    const client = await connect();
    client.send({ type: 'subscribe_completion', completionId: 'chatcmpl-nope' });
    expect(await client.next('the refusal', (m) => m.type === 'error')).toMatchObject({
      completionId: 'chatcmpl-nope',
      error: { code: 'not_found', param: 'completionId' },
    });
    client.send({ type: 'ping' });
    await client.next('pong', (m) => m.type === 'pong');
  });

  it('a closed socket leaves its completions running for orphan_grace, to be followed again, then cancelled', async () => {
    const app = await startApp(MODELS, { streaming: { hub: { orphan_grace: '1s' } } });
    try {
      const first = await connect(app);
      first.send({ type: 'completion', id: 'c', model: 'test/lorem-slow', messages: user('x') });
      await first.next('some chunks', () => first.of('c').length >= 3);
      await first.close();
      const seen = first.of('c');
      const completionId = seen[0]!.completionId as string;
      const lastSeq = seen.at(-1)!.seq as number;
      await sleep(300);
      expect(app.app.get(ActiveStreams).size).toBe(1); // still running, nobody following

      // The client comes back within the grace and resumes after what it had.
      const again = await connect(app);
      again.send({ type: 'subscribe_completion', completionId, afterSequence: lastSeq });
      await again.next('resumed', () => chunksOf(again.messages, completionId).length >= 3);
      expect(chunksOf(again.messages, completionId)[0]?.seq).toBe(lastSeq + 1);
      await sleep(1_200); // followed: the grace does not run out
      expect(app.app.get(ActiveStreams).size).toBe(1);

      // Left again: cancelled once the grace runs out, not before (still running 900 ms after leaving).
      await again.close();
      await sleep(900);
      expect(app.app.get(ActiveStreams).size).toBe(1);
      await waitFor('cancelled after the grace', () => app.app.get(ActiveStreams).size === 0, 5_000);
      expect(await app.app.get(StreamHub).summary(completionId)).toMatchObject({ status: 'cancelled' });
    } finally {
      await app.close();
    }
  }, 20_000);

  it("refuses another user's completion (resource scope own) and leaves it off their completion stream", async () => {
    const app = await startApp(MODELS, jwtAuth());
    try {
      const alice = bearer(token());
      const bob = bearer(token({ sub: 'bob' }));
      const theirs = await connect(app, bob);
      theirs.send({ type: 'subscribe', streams: ['completion'] });
      await theirs.next('the ack', (m) => m.type === 'subscribed');
      const watching = await connect(app, alice);
      watching.send({ type: 'subscribe', streams: ['completion'] });
      await watching.next('the ack', (m) => m.type === 'subscribed');

      const sse = await startSse(app.url, { model: 'test/echo-slow', messages: user(PROMPT) }, alice);
      theirs.send({ type: 'subscribe_completion', completionId: sse.completionId });
      expect(await theirs.next('the refusal', (m) => m.type === 'error')).toMatchObject({
        completionId: sse.completionId,
        error: { code: 'forbidden', param: 'completionId' },
      });
      // Alice's own completion stream has it, and she may follow it by id.
      await watching.end(sse.completionId);
      expect(textOf(chunksOf(watching.messages, sse.completionId))).toBe(PROMPT);
      const mine = await connect(app, alice);
      mine.send({ type: 'subscribe_completion', completionId: sse.completionId });
      expect(await mine.end(sse.completionId)).toMatchObject({
        type: 'completed',
        usage: usageOf(await sse.done),
      });
      // Bob heard nothing of it, and his socket carries on.
      expect(theirs.of(sse.completionId).filter((m) => m.type !== 'error')).toEqual([]);
      theirs.send({ type: 'ping' });
      await theirs.next('pong', (m) => m.type === 'pong');
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await app.close();
    }
  }, 20_000);

  it('follows a completion running on another node (one Redis), and hears of its starts there', async () => {
    const shared = { redis: { key_prefix: testPrefix() } };
    const a = await startApp(MODELS, shared);
    const b = await startApp(MODELS, shared);
    // Both nodes hear the hub's starts and control messages before anything is started.
    await hubsListening(shared.redis.key_prefix, 2);
    try {
      const watching = await connect(b);
      watching.send({ type: 'subscribe', streams: ['completion'] });
      await watching.next('the ack', (m) => m.type === 'subscribed');
      const sse = await startSse(a.url, { model: 'test/echo-slow', messages: user(PROMPT) });
      const follower = await connect(b);
      follower.send({ type: 'subscribe_completion', completionId: sse.completionId });
      const end = await follower.end(sse.completionId, 10_000);
      const result = await sse.done;
      expect(end).toMatchObject({ type: 'completed', usage: usageOf(result) });
      expect(textOf(chunksOf(follower.messages, sse.completionId))).toBe(PROMPT);
      expect(isEnd(await watching.end(sse.completionId, 10_000))).toBe(true);
      expect(textOf(chunksOf(watching.messages, sse.completionId))).toBe(PROMPT);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await b.close();
      await a.close();
    }
  }, 30_000);
});
