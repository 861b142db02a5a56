import { type AppProcess, startAppProcess } from './support/app-process';
import { startApp, type TestApp, withModels } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import {
  echoStream,
  errorOf,
  framesOf,
  hubsListening,
  type LiveSse,
  openSse,
  postSse,
  roleChunks,
  seqOfId,
  startPair,
  textOf,
  usageOf,
  words,
} from './support/hub-cluster';
import { COMPLETION_STREAM, GraphqlWsTestClient, type StreamEventResult } from './support/graphql-client';
import { RedisServerProcess, hasRedisServer } from './support/redis';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { withDeadline } from '../src/common/with-deadline';
import { StreamHub } from '../src/streaming/hub/stream-hub.service';
import { waitFor } from './support/wait';
import { WsTestClient } from './support/ws-client';

/**
 * The stream hub across two nodes sharing one Redis (issue 19): a completion started on A is followed, resumed
 * and cancelled from B by its id, over HTTP/SSE; ownership holds across nodes; losing Redis or the owner ends a
 * remote follower with a retryable error instead of leaving it hanging.
 */

/** 45 words at 30 tokens/s: a stream of ~1.5 s, long enough to act on mid-way. */
const TEXT = words(45);
const TOKENS_PER_SECOND = 30;
const SLOW: Record<string, unknown> = {
  providers: { simulated: { tokens_per_second: TOKENS_PER_SECOND } },
  streaming: { hub: { lease_ttl: '2s' } },
};
const COMPLETIONS = '/v1/chat/completions';

interface StateBody {
  id: string;
  object: string;
  status: string;
  node: string;
  choices?: Array<{ message: { role: string; content: string | null }; finish_reason: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  error?: { code: string; message: string };
  cancelled?: boolean;
}

async function stateOf(app: { url: string }, id: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${app.url}${COMPLETIONS}/${id}`, { headers });
  return { status: res.status, body: (await res.json()) as StateBody };
}

/** The completion id a streamed POST answered with. */
function idOf(live: LiveSse): string {
  const id = live.response.headers.get('x-completion-id');
  if (!id) throw new Error('no X-Completion-Id header');
  return id;
}

/** The events of a stream as `id|data` lines: two streams of the same completion compare frame by frame. */
const framesById = (events: LiveSse['events']) => events.map((e) => `${e.id}|${e.data}`);

/**
 * The owner that is killed is a real child process (src/main.ts); its boot (ts-node) is slow, so it starts
 * here, at once, while the other tests run.
 */
const OWNER_PREFIX = testPrefix('cbhub');
let ownerBoot: Promise<AppProcess>;
beforeAll(() => {
  ownerBoot = startAppProcess({
    NODE_ENV: 'development',
    CB__REDIS__KEY_PREFIX: OWNER_PREFIX,
    CB__STREAMING__HUB__LEASE_TTL: '2s',
    CB__PROVIDERS__SIMULATED__TOKENS_PER_SECOND: '20',
    CB__PROVIDERS__SIMULATED__FIRST_TOKEN_DELAY: '0ms',
    CB__AUTH__RATE_LIMITS__ENABLED: 'false',
  });
  ownerBoot.catch(() => undefined); // its own describe reports a failed boot
});
afterAll(async () => {
  const owner = await ownerBoot.catch(() => undefined);
  if (owner && owner.child.exitCode === null && owner.child.signalCode === null) {
    owner.child.kill('SIGKILL');
    await owner.exited;
  }
  await deleteKeys(OWNER_PREFIX);
}, 20_000);

describe('stream hub: two nodes, one Redis (SSE and HTTP)', () => {
  const prefix = testPrefix('cbhub');
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    [a, b] = await startPair(prefix, SLOW);
  }, 20_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deleteKeys(prefix);
  }, 20_000);

  it('a completion started over POST SSE on A is followed on B by id: the same frames, usage, [DONE]; its state on B', async () => {
    const started = await postSse(`${a.url}${COMPLETIONS}`, echoStream(TEXT));
    const id = idOf(started);
    expect(id).toMatch(/^chatcmpl-/);
    await started.atLeast(3);

    const during = await stateOf(b, id);
    expect(during.status).toBe(200);
    expect(during.body).toMatchObject({ id, object: 'chat.completion', status: 'running' });
    expect(during.body.choices).toBeUndefined();

    const followed = await openSse(`${b.url}${COMPLETIONS}/${id}/events?include_usage=true`);
    expect(followed.response.headers.get('x-completion-id')).toBe(id);
    const [mine, theirs] = await Promise.all([started.done, followed.done]);

    expect(textOf(mine.events)).toBe(TEXT);
    expect(textOf(theirs.events)).toBe(TEXT);
    expect(usageOf(theirs.events)).toEqual(usageOf(mine.events));
    expect(usageOf(theirs.events)).toMatchObject({ completion_tokens: 45 });
    expect(theirs.events.at(-1)?.data).toBe('[DONE]');
    // Frame for frame the same stream, `id: <completionId>:<seq>` included.
    expect(framesById(theirs.events)).toEqual(framesById(mine.events));
    expect(theirs.events.every((e) => e.id.startsWith(`${id}:`))).toBe(true);

    await waitFor('the summary on B to say completed', async () => {
      return (await stateOf(b, id)).body.status === 'completed';
    });
    const after = await stateOf(b, id);
    expect(after.body).toMatchObject({
      id,
      object: 'chat.completion',
      status: 'completed',
      node: expect.any(String),
      choices: [{ message: { role: 'assistant', content: TEXT }, finish_reason: 'stop' }],
      usage: { completion_tokens: 45 },
    });
  }, 15_000);

  it('a client killed mid-stream on A resumes on B with Last-Event-ID (or ?after=) and gets exactly the missing tail', async () => {
    const started = await postSse(`${a.url}${COMPLETIONS}`, echoStream(TEXT));
    const id = idOf(started);
    // An uninterrupted follower of the same completion, to compare with.
    const whole = await openSse(`${a.url}${COMPLETIONS}/${id}/events?include_usage=true`);
    await started.atLeast(8);
    const received = [...started.events];
    started.cut();
    await expect(started.done).rejects.toThrow();
    const lastId = received.at(-1)!.id;
    const after = seqOfId(lastId);
    expect(after).toBeGreaterThan(1);

    const [byHeader, byQuery] = await Promise.all([
      openSse(`${b.url}${COMPLETIONS}/${id}/events?include_usage=true`, {
        headers: { 'last-event-id': lastId },
      }),
      openSse(`${b.url}${COMPLETIONS}/${id}/events?include_usage=true&after=${after}`),
    ]);
    const [tail, tailByQuery, all] = await Promise.all([byHeader.done, byQuery.done, whole.done]);

    expect(textOf(received) + textOf(tail.events)).toBe(textOf(all.events));
    expect(textOf(all.events)).toBe(TEXT);
    expect(roleChunks(received)).toBe(1);
    expect(roleChunks(tail.events)).toBe(0);
    // Exactly the frames after the last one received: none again, none missing.
    const missing = all.events.filter((e) => seqOfId(e.id) > after);
    expect(framesById(tail.events)).toEqual(framesById(missing));
    expect(framesById(tailByQuery.events)).toEqual(framesById(missing));
    expect(tail.events.at(-1)?.data).toBe('[DONE]');
    expect(usageOf(tail.events)).toEqual(usageOf(all.events));
    // The client leaving did not stop the completion, and it ran once.
    expect((await stateOf(b, id)).body.status).not.toBe('cancelled');
  }, 15_000);

  it('a cancel on B ends the stream on A with a cancelled error frame, then [DONE]', async () => {
    const started = await postSse(`${a.url}${COMPLETIONS}`, echoStream(TEXT));
    const id = idOf(started);
    await started.atLeast(3);
    const res = await fetch(`${b.url}${COMPLETIONS}/${id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect((await res.json()) as StateBody).toMatchObject({ id, cancelled: true });

    const { events } = await started.done;
    expect(errorOf(events)).toMatchObject({ code: 'cancelled' });
    expect(events.at(-1)?.data).toBe('[DONE]');
    expect(textOf(events).length).toBeLessThan(TEXT.length);
    await waitFor('the summary on B to say cancelled', async () => {
      return (await stateOf(b, id)).body.status === 'cancelled';
    });
    expect((await stateOf(b, id)).body.error).toMatchObject({ code: 'cancelled' });
    // Cancelling what has ended is no error: it says it did nothing.
    const again = await fetch(`${b.url}${COMPLETIONS}/${id}/cancel`, { method: 'POST' });
    expect((await again.json()) as StateBody).toMatchObject({ cancelled: false, status: 'cancelled' });
  }, 15_000);

  it('an unknown completion is a 404 on the other node, in OpenAI error JSON', async () => {
    const res = await fetch(`${b.url}${COMPLETIONS}/chatcmpl-doesnotexist0000/events`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});

describe('stream hub: ownership across nodes (auth on, resource scope own)', () => {
  const prefix = testPrefix('cbhub');
  const ALICE = token({ sub: 'alice' });
  const BOB = token({ sub: 'bob' });
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    [a, b] = await startPair(prefix, SLOW, jwtAuth());
  }, 20_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deleteKeys(prefix);
  }, 20_000);

  it("refuses another user's completion with 403 on GET events, GET state and POST cancel, on either node", async () => {
    const started = await postSse(`${a.url}${COMPLETIONS}`, echoStream(TEXT), bearer(ALICE));
    const id = idOf(started);
    await started.atLeast(2);
    const refusals = [];
    for (const node of [b, a]) {
      refusals.push(
        await fetch(`${node.url}${COMPLETIONS}/${id}/events`, { headers: bearer(BOB) }),
        await fetch(`${node.url}${COMPLETIONS}/${id}`, { headers: bearer(BOB) }),
        await fetch(`${node.url}${COMPLETIONS}/${id}/cancel`, { method: 'POST', headers: bearer(BOB) }),
      );
    }
    for (const res of refusals) {
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      const body = (await res.json()) as { error: { code: string; type: string; message: string } };
      expect(body.error).toMatchObject({ code: 'forbidden', message: expect.any(String) });
    }
    // Bob's cancel did nothing; Alice follows her own on B to its end.
    const hers = await openSse(`${b.url}${COMPLETIONS}/${id}/events`, { headers: bearer(ALICE) });
    const [mine, followed] = await Promise.all([started.done, hers.done]);
    expect(textOf(mine.events)).toBe(TEXT);
    expect(textOf(followed.events)).toBe(TEXT);
    expect((await stateOf(b, id, bearer(ALICE))).status).toBe(200);
  }, 15_000);
});

const withRedisServer = hasRedisServer() ? describe : describe.skip;

withRedisServer('stream hub: Redis stopped mid-stream', () => {
  const prefix = testPrefix('cbhub');
  let redis: RedisServerProcess;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await RedisServerProcess.start();
    [a, b] = await startPair(prefix, SLOW, { redis: { url: redis.url, connect_timeout: '500ms' } });
  }, 20_000);
  afterAll(async () => {
    // Redis back, so both nodes close promptly.
    await redis?.start();
    await a?.close();
    await b?.close();
    await redis?.stop();
  }, 30_000);

  it('the owner and its local follower complete intact; a follower on the other node gets a retryable service_unavailable', async () => {
    const started = await postSse(`${a.url}${COMPLETIONS}`, echoStream(TEXT));
    const id = idOf(started);
    const local = await openSse(`${a.url}${COMPLETIONS}/${id}/events`);
    const remote = await openSse(`${b.url}${COMPLETIONS}/${id}/events`);
    await remote.atLeast(3);
    const stoppedAt = Date.now();
    await redis.stop();

    const ended = await remote.done;
    const endedAfter = Date.now() - stoppedAt;
    expect(errorOf(ended.events)).toMatchObject({ code: 'service_unavailable' });
    expect(ended.events.at(-1)?.data).toBe('[DONE]');
    expect(endedAfter).toBeLessThan(4_000);
    const [mine, same] = await Promise.all([started.done, local.done]);
    expect(textOf(mine.events)).toBe(TEXT);
    expect(errorOf(mine.events)).toBeUndefined();
    expect(mine.events.at(-1)?.data).toBe('[DONE]');
    expect(textOf(same.events)).toBe(TEXT);
    expect(same.events.at(-1)?.data).toBe('[DONE]');
    // What the remote follower had before the error is the beginning of the answer (nothing wrong, nothing twice).
    expect(TEXT.startsWith(textOf(ended.events))).toBe(true);
  }, 20_000);
});

describe('stream hub: the owner node dies mid-stream (kill -9)', () => {
  let owner: AppProcess | undefined;
  let b: TestApp;

  beforeAll(async () => {
    [owner, b] = await Promise.all([ownerBoot, startApp(SLOW, { redis: { key_prefix: OWNER_PREFIX } })]);
    await hubsListening(OWNER_PREFIX, 2);
  }, 60_000);
  afterAll(async () => {
    await b?.close();
  }, 20_000);

  it('a follower on B gets stream_owner_lost within lease_ttl + 2 s, and the state on B says failed with it', async () => {
    const started = await postSse(`${owner!.url}${COMPLETIONS}`, echoStream(TEXT));
    const id = idOf(started);
    started.done.catch(() => undefined); // its connection dies with the owner
    const remote = await openSse(`${b.url}${COMPLETIONS}/${id}/events`);
    await remote.atLeast(3);
    owner!.child.kill('SIGKILL');
    await owner!.exited;

    // The follower must not hang: its end arrives within lease_ttl (2 s) + 2 s of the kill.
    const ended = await withDeadline(remote.done, 2_000 + 2_000, 'the follower on B to end');
    expect(errorOf(ended.events)).toMatchObject({ code: 'stream_owner_lost' });
    expect(ended.events.at(-1)?.data).toBe('[DONE]');
    expect(TEXT.startsWith(textOf(ended.events))).toBe(true);
    expect(textOf(ended.events).length).toBeLessThan(TEXT.length);

    const state = await stateOf(b, id);
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ id, status: 'failed', error: { code: 'stream_owner_lost' } });
    // A late follower reads the same end from the stream itself.
    const late = await openSse(`${b.url}${COMPLETIONS}/${id}/events`);
    const lateEnd = await late.done;
    expect(framesOf(lateEnd.events).length).toBeGreaterThan(0);
    expect(errorOf(lateEnd.events)).toMatchObject({ code: 'stream_owner_lost' });
  }, 20_000);
});

/**
 * The other edges as followers of a completion started over SSE on another node (the hub-ws and hub-graphql
 * branches): WebSocket `subscribe_completion` and GraphQL `completionStream`, each resuming after an SSE frame's
 * sequence number.
 */
describe('stream hub: WebSocket and GraphQL followers on B of an SSE completion on A', () => {
  const prefix = testPrefix('cbhub');
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    [a, b] = await startPair(prefix, SLOW);
  }, 20_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deleteKeys(prefix);
  }, 20_000);

  /** A completion on A read over SSE up to some frames: its id, the last seq read, and the text so far. */
  async function startedOnA(frames: number) {
    const started = await postSse(`${a.url}${COMPLETIONS}`, echoStream(TEXT));
    const id = idOf(started);
    await started.atLeast(frames);
    const received = [...started.events];
    const after = seqOfId(received.at(-1)!.id);
    return { started, id, after, head: textOf(received) };
  }

  it('subscribe_completion on /ws/stream of B resumes after an SSE seq: the tail, numbered, then completed with usage', async () => {
    const { started, id, after, head } = await startedOnA(8);
    const ws = await WsTestClient.connect(b.url);
    try {
      ws.send({ type: 'subscribe_completion', completionId: id, afterSequence: after });
      const end = await ws.end(id, 10_000);
      expect(end).toMatchObject({ type: 'completed', completionId: id, usage: { completionTokens: 45 } });
      expect(head + ws.contentOf(id)).toBe(TEXT);
      const seqs = ws
        .of(id)
        .filter((m) => m.type === 'content_chunk' || m.type === 'completed')
        .map((m) => m.seq as number);
      expect(seqs[0]).toBe(after + 1);
      expect(seqs).toEqual(seqs.map((_, i) => after + 1 + i));
      expect(textOf((await started.done).events)).toBe(TEXT);
    } finally {
      await ws.close();
    }
  }, 15_000);

  it('completionStream(afterSequence) over graphql-ws on B resumes after an SSE seq: the tail, then COMPLETED', async () => {
    const { started, id, after, head } = await startedOnA(8);
    const gql = GraphqlWsTestClient.connect(b.url);
    try {
      const results = await gql.collect<{ completionStream: StreamEventResult }>(COMPLETION_STREAM, {
        id,
        after,
      });
      const events = results.map((r) => r.data!.completionStream);
      const tail = events
        .filter((e) => e.eventType === 'CONTENT_CHUNK')
        .map((e) => e.content)
        .join('');
      expect(head + tail).toBe(TEXT);
      expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => after + 1 + i));
      expect(events.at(-1)).toMatchObject({ eventType: 'COMPLETED', usage: { completionTokens: 45 } });
      expect(textOf((await started.done).events)).toBe(TEXT);
    } finally {
      await gql.dispose();
    }
  }, 15_000);
});

describe('stream hub: a long completion on one node', () => {
  const prefix = testPrefix('cbhub');
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp(
      { redis: { key_prefix: prefix } },
      { providers: { simulated: { tokens_per_second: 0, first_token_delay: 0 } } },
      withModels([], {
        id: 'test/lorem-long',
        provider: 'simulated',
        upstream: 'lorem',
        options: { length: 3_000 },
      }),
    );
  }, 20_000);
  afterAll(async () => {
    await t?.close();
    await deleteKeys(prefix);
  }, 20_000);

  it('keeps its recent events in memory; a resume from further back reads the rest from Redis, frame for frame', async () => {
    const started = await postSse(`${t.url}${COMPLETIONS}`, {
      model: 'test/lorem-long',
      messages: [{ role: 'user', content: 'go' }],
      stream: true,
    });
    const id = idOf(started);
    const all = await started.done;
    const last = seqOfId(all.events.at(-1)!.id);
    expect(last).toBeGreaterThan(3_000);
    // Its node let go of the older events once Redis had them.
    await waitFor('the log trimmed', () => (t.app.get(StreamHub).heldEvents(id) ?? Infinity) <= 1_024);
    // A resume near the end is served from memory, one from the start from the Redis Stream: the same frames.
    for (const after of [last - 10, 5]) {
      const tail = await (await openSse(`${t.url}${COMPLETIONS}/${id}/events?after=${after}`)).done;
      expect(framesById(tail.events)).toEqual(framesById(all.events.filter((e) => seqOfId(e.id) > after)));
    }
  }, 20_000);
});
