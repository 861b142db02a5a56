import { ActiveStreams } from '../src/streaming/active-streams.service';
import { startApp, type TestApp } from './support/app';
import {
  type Json,
  mutateJson,
  mutateTextTimes,
  Prng,
  randomJson,
  randomString,
  Tally,
} from './support/fuzz';
import { type Message, WsTestClient } from './support/ws-client';
import { waitFor } from './support/wait';

/**
 * Malformed messages on `/ws/stream`: every one gets a reply or an `error` message of the protocol (never an
 * internal_error), the connection carries on, every completion that started ends with `completed` or
 * `error`, and frames past max_frame_size close only their own connection (1009). Seeded like the REST fuzz:
 * FUZZ_SEED=<seed> replays the same messages.
 */
const SEED = Prng.seedFrom('FUZZ_SEED');
const MESSAGES = Number(process.env.FUZZ_INPUTS ?? 10_000);
const CONNECTIONS = 4;
const BATCH = 50;
const USER = { role: 'user', content: 'hello' };

const TEMPLATES: Json[] = [
  { type: 'completion', id: 'c1', model: 'simulated/echo', messages: [USER] },
  {
    type: 'completion',
    id: 'c2',
    model: 'simulated/lorem',
    messages: [USER],
    max_tokens: 5,
    temperature: 0.2,
  },
  {
    type: 'completion',
    id: 'c3',
    model: 'echo',
    messages: [USER],
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    tool_choice: 'auto',
  },
  { type: 'subscribe', streams: ['completion', 'workflow', 'agent_status'] },
  { type: 'unsubscribe', streams: ['agent_status'] },
  { type: 'cancel', id: 'c1' },
  { type: 'subscribe_workflow', workflowId: 'content_creation', afterSequence: 0 },
  { type: 'unsubscribe_workflow', workflowId: 'content_creation' },
  { type: 'auth', token: 'eyJhbGciOiJIUzI1NiJ9.e30.sig' },
  { type: 'ping' },
];

/** One fuzzed frame: text most of the time, sometimes binary. */
function frame(rng: Prng): { data: string | Buffer; binary: boolean } {
  const template = rng.pick(TEMPLATES);
  return rng.weighted<() => { data: string | Buffer; binary: boolean }>([
    [
      6,
      () => {
        let value = template;
        for (let i = rng.between(1, 3); i > 0; i--) value = mutateJson(rng, value);
        // Completion ids of a few shapes, so some collide (duplicate_id) and some are new.
        if (typeof value === 'object' && value !== null && !Array.isArray(value) && rng.chance(0.5))
          value = { ...value, id: `f${rng.int(40)}` };
        return { data: JSON.stringify(value), binary: false };
      },
    ],
    [2, () => ({ data: mutateTextTimes(rng, JSON.stringify(template)), binary: false })],
    [1, () => ({ data: JSON.stringify(randomJson(rng)), binary: false })],
    [0.5, () => ({ data: randomString(rng, { hugeChance: 0.05, hugeLength: 200_000 }), binary: false })],
    [0.5, () => ({ data: Buffer.from(JSON.stringify(template)), binary: true })],
  ])();
}

/** The completions that streamed something to a connection and have not ended there (completed or error). */
function unended(messages: readonly Message[]): string[] {
  const started = new Set<string>();
  const ended = new Set<string>();
  for (const m of messages) {
    if (typeof m.completionId !== 'string') continue;
    if (m.type === 'content_chunk' || m.type === 'tool_call' || m.type === 'thinking_status')
      started.add(m.completionId);
    if (m.type === 'completed' || m.type === 'error') ended.add(m.completionId);
  }
  return [...started].filter((id) => !ended.has(id));
}

describe('fuzz: /ws/stream', () => {
  let t: TestApp;
  const unexpected: unknown[] = [];
  const onUnexpected = (err: unknown) => unexpected.push(err);

  beforeAll(async () => {
    t = await startApp({ server: { max_connections_per_ip: 0 } });
    process.on('unhandledRejection', onUnexpected);
    process.on('uncaughtException', onUnexpected);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnexpected);
    process.off('uncaughtException', onUnexpected);
    await t.close();
  });

  it(`${MESSAGES} malformed messages: protocol errors only, connections carry on, every started completion ends (seed ${SEED})`, async () => {
    const rng = new Prng(SEED);
    const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => WsTestClient.connect(t.url)));
    const sent = new Tally();
    let pings = 0;
    for (let i = 0; i < MESSAGES; i += BATCH) {
      const client = clients[(i / BATCH) % CONNECTIONS]!;
      for (let j = 0; j < BATCH && i + j < MESSAGES; j++) {
        const { data, binary } = frame(rng);
        sent.add(binary ? 'binary frame' : 'text frame');
        client.socket.send(data, { binary });
      }
      // Messages are handled in order: the pong says the batch has been read (and answered, for all but
      // completions, whose ends come later).
      const pongs = client.messages.filter((m) => m.type === 'pong').length;
      client.send({ type: 'ping' });
      pings++;
      await waitFor(
        `the pong after batch ${i / BATCH} (connection closed: ${String(client.closeCode)})`,
        () => client.messages.filter((m) => m.type === 'pong').length > pongs,
        30_000,
      );
    }
    await waitFor('every completion to end', () => t.app.get(ActiveStreams).size === 0, 60_000);
    // A completion another connection started may still be on its way to a follower of the `completion`
    // stream, paced by that connection's send budget, after it ended: its end comes last.
    await waitFor(
      'every followed completion to reach its end',
      () => clients.every((client) => unended(client.messages).length === 0),
      60_000,
    );

    const replies = new Tally();
    const internal: Message[] = [];
    for (const client of clients) {
      // Still open: bad input never closed a connection.
      expect(client.closeCode).toBeUndefined();
      for (const m of client.messages) {
        const error = m.error as { code?: string } | undefined;
        replies.add(m.type === 'error' ? `error ${error?.code ?? '?'}` : m.type);
        if (error?.code === 'internal_error') internal.push(m);
      }
      // Every completion that streamed anything ended with completed or error.
      expect(unended(client.messages)).toEqual([]);
    }

    // Frames past max_frame_size close their own connection with 1009, not the node.
    const big = await WsTestClient.connect(t.url);
    big.socket.send('x'.repeat(5 * 1024 * 1024)); // max_frame_size is 4MB
    expect(await big.closed).toBe(1009);
    const after = await WsTestClient.connect(t.url);
    after.send({ type: 'ping' });
    await after.next('pong', (m) => m.type === 'pong');

    console.log(
      `seed ${SEED}: ${sent.total} frames sent on ${CONNECTIONS} connections (+${pings} pings)\n${sent.toString()}\nreplies:\n${replies.toString()}`,
    );
    expect(internal).toEqual([]);
    expect(unexpected).toEqual([]);
    for (const client of [...clients, after]) client.socket.close();
    expect((await fetch(`${t.url}/health/live`)).status).toBe(200);
  }, 300_000);
});
