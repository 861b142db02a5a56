import Redis, { type ChainableCommander } from 'ioredis';
import { waitFor } from '../../common/testing/wait-for';
import pino from 'pino';
import type { StreamEvent } from '../../contract/stream-event';
import type { CompletionSummary } from './completion-state';
import { RemoteFollower } from './followers';
import { HubKeys } from './hub-keys';
import { batchJson, HubMirror, type MirroredStream } from './hub-mirror';
import { HubReader } from './hub-reader';

/**
 * The hub's mirror against a real Redis: a burst of events is one Redis Stream entry (one XADD), trimmed by
 * sequence number, and the reader hands followers each event of it once, from wherever they resume, even from
 * the middle of an entry.
 */

/** The shared test Redis (config/default.yml's redis.url). */
const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `cb-test-mirror-${process.pid}-${Date.now()}:`;
const keys = new HubKeys(PREFIX);
const silent = pino({ level: 'silent' });

const chunk = (id: string, n: number): StreamEvent => ({
  type: 'content_chunk',
  completionId: id,
  content: `c${n} `,
  index: 0,
});

/** A completion as the hub holds it, driven by hand. */
class FakeStream implements MirroredStream {
  readonly events: StreamEvent[] = [];
  done = false;
  settledCount = 0;
  announce?: (pipeline: ChainableCommander) => void;
  /** Read elsewhere for ever unless a test says otherwise: written as its events come. */
  remoteReadUntil = Infinity;
  readonly mirror = { registered: false, written: 0, finished: false, startedAt: Date.now(), queued: false };
  readonly model = 'simulated/echo';
  readonly provider = 'simulated';

  constructor(readonly completionId: string) {}

  get head(): number {
    return this.events.length;
  }

  between(from: number, to: number): StreamEvent[] {
    return this.events.slice(from, to);
  }

  push(count: number): void {
    for (let i = 0; i < count; i++) this.events.push(chunk(this.completionId, this.events.length + 1));
  }

  end(): void {
    this.events.push({
      type: 'completed',
      completionId: this.completionId,
      finishReason: 'stop',
      usage: { promptTokens: 1, completionTokens: this.events.length, totalTokens: this.events.length + 1 },
    });
    this.done = true;
  }

  registryEntry(): string {
    return JSON.stringify({ completionId: this.completionId, node: 'n1' });
  }

  summary(): CompletionSummary {
    return {
      completionId: this.completionId,
      status: this.done ? 'completed' : 'running',
      model: this.model,
      provider: this.provider,
      protocol: 'sse',
      node: 'n1',
      created: 0,
      createdAt: new Date(0).toISOString(),
      content: null,
      reasoning: null,
      toolCalls: [],
    };
  }

  settled(): void {
    this.settledCount++;
  }
}

describe('batchJson', () => {
  it('is the events without their completionId, every type, text escaped', () => {
    const id = 'chatcmpl-x';
    const events: StreamEvent[] = [
      { type: 'content_chunk', completionId: id, content: 'a "quoted"\n line é 😀', index: 0 },
      { type: 'thinking', completionId: id, content: 'hmm' },
      {
        type: 'tool_call',
        completionId: id,
        index: 0,
        toolCallId: 'call_1',
        name: 'f',
        argumentsDelta: '{"a"',
      },
      {
        type: 'completed',
        completionId: id,
        finishReason: 'tool_calls',
        usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 },
      },
    ];
    const parsed = JSON.parse(batchJson(events)) as Array<Record<string, unknown>>;
    expect(parsed).toEqual(events.map(({ completionId: _id, ...rest }) => rest));
    expect(batchJson([])).toBe('[]');
  });
});

describe('HubMirror on a real Redis', () => {
  let redis: Redis;
  let mirror: HubMirror;
  let reader: HubReader;
  let seq = 0;
  const LIMIT = 100;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    mirror = new HubMirror(
      redis,
      keys,
      { leaseTtlMs: 5_000, retentionMs: 60_000, limit: LIMIT, flushMs: 2, unfollowedFlushMs: 300 },
      silent,
    );
    reader = new HubReader(redis, keys, 60_000, silent);
  });
  afterAll(async () => {
    mirror.stop();
    reader.stop(undefined);
    const found = await redis.keys(`${PREFIX}*`);
    if (found.length > 0) await redis.del(...found);
    redis.disconnect();
  });

  function follower(id: string, after: number): RemoteFollower {
    const f: RemoteFollower = new RemoteFollower(
      id,
      0,
      { model: '?', provider: '?' },
      after,
      undefined,
      1_000,
      () => reader.remove(f),
      () => reader.wake(),
    );
    reader.add(f);
    return f;
  }

  async function drain(f: RemoteFollower): Promise<number[]> {
    const out: number[] = [];
    for await (const event of f) {
      out.push(f.seq);
      if (event.type === 'content_chunk') expect(event.content).toBe(`c${f.seq} `);
    }
    return out;
  }

  it('renews each running lease on its own schedule, and the kept keys a few times per retention', async () => {
    // A short lease (renewal ticks of 50 ms) and a 2 s retention: the lease must outlive many of its TTLs,
    // while the summary and events keys are pushed back only once a quarter of the retention passed.
    const short = new HubMirror(
      redis,
      keys,
      { leaseTtlMs: 300, retentionMs: 2_000, limit: LIMIT, flushMs: 2, unfollowedFlushMs: 300 },
      silent,
    );
    try {
      const streams = [1, 2, 3].map(() => new FakeStream(`chatcmpl-r${++seq}`));
      for (const stream of streams) {
        stream.push(1);
        short.note(stream);
      }
      await short.flushNow();
      const started = Date.now();
      let lowestLease = Infinity;
      // How often each key's expiry went back up (a renewal), seen by sampling every 20 ms.
      const renewed = { lease: 0, kept: 0 };
      const last = new Map<string, number>();
      const sample = (key: string, ttl: number, kind: 'lease' | 'kept') => {
        if (ttl > (last.get(key) ?? Infinity)) renewed[kind]++;
        last.set(key, ttl);
      };
      while (Date.now() - started < 1_200) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const [stream] = streams;
        const [lease, kept] = await Promise.all([
          redis.pttl(keys.lease(stream!.completionId)),
          redis.pttl(keys.state(stream!.completionId)),
        ]);
        lowestLease = Math.min(
          lowestLease,
          ...(await Promise.all(streams.map((x) => redis.pttl(keys.lease(x.completionId))))),
        );
        sample('lease', lease, 'lease');
        sample('kept', kept, 'kept');
      }
      // The leases never lapsed over four of their lifetimes, renewed every third of one (about 100 ms); the
      // kept keys only every quarter of the retention (500 ms).
      expect(lowestLease).toBeGreaterThan(0);
      expect(renewed.lease).toBeGreaterThanOrEqual(8);
      expect(renewed.kept).toBeGreaterThanOrEqual(1);
      expect(renewed.kept).toBeLessThanOrEqual(3);
      for (const stream of streams) {
        stream.end();
        short.note(stream);
      }
      await short.flushNow();
      for (const stream of streams) expect(await redis.exists(keys.lease(stream.completionId))).toBe(0);
    } finally {
      short.stop();
    }
  });

  it('writes a stream nobody elsewhere reads as it comes for its first interval, then on the interval', async () => {
    const stream = new FakeStream(`chatcmpl-u${++seq}`);
    const id = stream.completionId;
    stream.remoteReadUntil = 0;
    stream.push(1);
    mirror.note(stream); // registered with its first events at once
    await waitFor('the registration', () => stream.mirror.registered);
    expect(await redis.xlen(keys.events(id))).toBe(1);
    // Written as they come for its first interval, when followers elsewhere usually join.
    stream.push(1);
    mirror.note(stream);
    await waitFor('the early event', () => stream.mirror.written === 2);
    expect(await redis.xlen(keys.events(id))).toBe(2);
    // Past its first interval: five chunks, several turns of the loop and a Redis round trip later, nothing
    // more in Redis; they wait for the unfollowed flush.
    stream.mirror.startedAt -= 300;
    for (let i = 0; i < 5; i++) {
      stream.push(1);
      mirror.note(stream);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await redis.ping();
    expect(stream.mirror.written).toBe(2);
    expect(await redis.xlen(keys.events(id))).toBe(2);
    await waitFor('the unfollowed flush', () => stream.mirror.written === 7);
    // One entry for the five, not five.
    expect(await redis.xlen(keys.events(id))).toBe(3);
    stream.end();
    mirror.note(stream);
    await waitFor('its end', () => stream.mirror.finished);
    expect(await drain(follower(id, 0))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('writes what an unfollowed stream has pending at once when a follower elsewhere starts to read it', async () => {
    // An unfollowed interval of a minute: in this test only the hurry can write the pending events.
    const slow = new HubMirror(
      redis,
      keys,
      { leaseTtlMs: 5_000, retentionMs: 60_000, limit: LIMIT, flushMs: 2, unfollowedFlushMs: 60_000 },
      silent,
    );
    try {
      const stream = new FakeStream(`chatcmpl-h${++seq}`);
      const id = stream.completionId;
      stream.remoteReadUntil = 0;
      stream.push(1);
      slow.note(stream);
      await waitFor('the registration', () => stream.mirror.registered);
      stream.mirror.startedAt -= 120_000; // past its first interval
      stream.push(2);
      slow.note(stream);
      await redis.ping();
      expect(stream.mirror.written).toBe(1);
      // A follower elsewhere: what is pending goes now, and what comes next as it comes.
      stream.remoteReadUntil = Infinity;
      slow.hurry(stream);
      await waitFor('the pending events', () => stream.mirror.written === 3);
      stream.push(1);
      slow.note(stream);
      await waitFor('the next event', () => stream.mirror.written === 4);
      stream.end();
      slow.note(stream);
      await waitFor('its end', () => stream.mirror.finished);
      expect(await drain(follower(id, 0))).toEqual([1, 2, 3, 4, 5]);
    } finally {
      slow.stop();
    }
  });

  it('writes at most 256 streams per pipeline, the rest in the next ones', async () => {
    const streams = Array.from({ length: 600 }, () => new FakeStream(`chatcmpl-p${++seq}`));
    const pipelines: number[] = [];
    const original = redis.pipeline.bind(redis);
    const spy = jest.spyOn(redis, 'pipeline').mockImplementation(() => {
      const pipeline = original();
      const exec = pipeline.exec.bind(pipeline);
      pipeline.exec = () => {
        pipelines.push(pipeline.length);
        return exec();
      };
      return pipeline;
    });
    try {
      for (const stream of streams) {
        stream.push(1);
        mirror.note(stream);
      }
      await waitFor('every stream registered', () => streams.every((s) => s.mirror.registered));
    } finally {
      spy.mockRestore();
    }
    // Registration is 5 commands a stream (lease, state, index, its first events' entry and expiry).
    expect(pipelines.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...pipelines)).toBeLessThanOrEqual(256 * 5);
    expect(pipelines.reduce((a, b) => a + b, 0)).toBe(600 * 5);
    for (const stream of streams) {
      stream.end();
      mirror.note(stream);
    }
    await mirror.flushNow();
    expect(streams.every((s) => s.mirror.finished)).toBe(true);
  });

  it('writes a burst as one entry, and the reader hands out each event once from any resume point', async () => {
    const stream = new FakeStream(`chatcmpl-m${++seq}`);
    const id = stream.completionId;
    stream.push(5);
    mirror.note(stream);
    await mirror.flushNow();
    stream.push(4);
    stream.end();
    mirror.note(stream);
    await mirror.flushNow();
    expect(stream.mirror).toMatchObject({ registered: true, written: 10, finished: true });
    expect(stream.settledCount).toBe(1);

    // Two bursts, two entries, named by their last event's seq; the first and last name model and provider.
    const entries = await redis.xrange(keys.events(id), '-', '+');
    expect(entries.map(([entryId]) => entryId)).toEqual(['0-5', '0-10']);
    expect(entries[0]![1]).toEqual(expect.arrayContaining(['m', 'simulated/echo', 'p', 'simulated']));
    expect(entries[1]![1]).toEqual(expect.arrayContaining(['t', '1']));
    expect(await redis.pttl(keys.events(id))).toBeGreaterThan(50_000);
    // Done: the lease and the index entry are gone, the final state stays.
    expect(await redis.exists(keys.lease(id))).toBe(0);
    expect(JSON.parse((await redis.get(keys.state(id)))!)).toMatchObject({ status: 'completed' });

    // From the start, from the middle of the first entry, from the end of it, and from inside the last.
    const [whole, mid, edge, late] = await Promise.all(
      [0, 3, 5, 9].map((after) => drain(follower(id, after))),
    );
    expect(whole).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(mid).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(edge).toEqual([6, 7, 8, 9, 10]);
    expect(late).toEqual([10]);
  }, 10_000);

  it('a stream that ended before its first write is written whole: no lease or index entry, then announced', async () => {
    const stream = new FakeStream(`chatcmpl-m${++seq}`);
    const id = stream.completionId;
    // Announced after the rest, in the same pipeline (here a SET of a marker key, to be seen).
    stream.announce = (pipeline) => pipeline.set(`${PREFIX}announced:${id}`, '1');
    stream.push(3);
    stream.end();
    const monitor = await redis.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: unknown[]) => {
      if (args.some((a) => String(a).includes(id))) seen.push(String(args[0]).toLowerCase());
    });
    mirror.note(stream);
    await mirror.flushNow();
    await waitFor('the monitor saw the pipeline', () => seen.filter((c) => c === 'set').length >= 2);
    monitor.disconnect();
    expect(stream.mirror).toMatchObject({ registered: true, written: 4, finished: true });
    expect(seen).toEqual(['xadd', 'pexpire', 'set', 'set']);
    expect(await redis.exists(keys.lease(id))).toBe(0);
    expect(await redis.zscore(keys.index, id)).toBeNull();
    expect(JSON.parse((await redis.get(keys.state(id)))!)).toMatchObject({ status: 'completed' });
    expect(await drain(follower(id, 0))).toEqual([1, 2, 3, 4]);
  }, 10_000);

  it('a batch written before (its answer lost) counts as written, not as a failure to retry', async () => {
    const stream = new FakeStream(`chatcmpl-m${++seq}`);
    stream.push(3);
    await redis.xadd(keys.events(stream.completionId), '0-3', 'b', '[]');
    mirror.note(stream);
    await mirror.flushNow();
    expect(stream.mirror.written).toBe(3);
    expect(await redis.xlen(keys.events(stream.completionId))).toBe(1);
  }, 10_000);

  it('keeps the last `limit` events at least, trimming older entries by sequence number', async () => {
    const stream = new FakeStream(`chatcmpl-m${++seq}`);
    for (let burst = 0; burst < 300; burst++) {
      stream.push(1);
      mirror.note(stream);
      await mirror.flushNow();
    }
    const entries = await redis.xrange(keys.events(stream.completionId), '-', '+');
    const kept = entries.map(([entryId]) => Number(entryId.slice(2)));
    expect(kept.at(-1)).toBe(300);
    // Trimmed (MINID ~ drops whole nodes of entries), but never into the last `limit` events.
    expect(kept[0]).toBeGreaterThan(1);
    expect(kept[0]).toBeLessThanOrEqual(300 - LIMIT + 1);
  }, 20_000);
});
