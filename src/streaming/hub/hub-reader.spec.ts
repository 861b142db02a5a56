import Redis from 'ioredis';
import pino from 'pino';
import { waitFor } from '../../common/testing/wait-for';
import type { StreamEvent } from '../../contract/stream-event';
import { RemoteFollower } from './followers';
import { HubKeys } from './hub-keys';
import { HubReader, streamsOf } from './hub-reader';

/**
 * The hub's reader against a real Redis (whose XREAD answers a map under RESP3, ioredis 6's default): remote
 * followers get history then live entries, each once and in order; a lapsed lease ends them with
 * stream_owner_lost written to the stream itself.
 */

/** The shared test Redis (config/default.yml's redis.url). */
const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `cb-test-hub-${process.pid}-${Date.now()}:`;
const keys = new HubKeys(PREFIX);

const chunk = (id: string, content: string): StreamEvent => ({
  type: 'content_chunk',
  completionId: id,
  content,
  index: 0,
});

describe('streamsOf', () => {
  it('reads RESP2 pairs and the flattened RESP3 map alike', () => {
    const entries: Array<[string, string[]]> = [['0-1', ['e', '{}']]];
    expect(streamsOf([['k', entries]])).toEqual([['k', entries]]);
    expect(streamsOf(['k1', entries, 'k2', []])).toEqual([
      ['k1', entries],
      ['k2', []],
    ]);
    expect(streamsOf([])).toEqual([]);
  });
});

describe('HubReader on a real Redis', () => {
  let redis: Redis;
  let reader: HubReader;
  let seq = 0;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    reader = new HubReader(redis, keys, 60_000, pino({ level: 'silent' }));
  });
  afterAll(async () => {
    reader.stop(undefined);
    const found = await redis.keys(`${PREFIX}*`);
    if (found.length > 0) await redis.del(...found);
    redis.disconnect();
  });

  function follower(id: string, after = 0): RemoteFollower {
    const f: RemoteFollower = new RemoteFollower(
      id,
      0,
      { model: 'm', provider: 'p' },
      after,
      undefined,
      64,
      () => reader.remove(f),
      () => reader.wake(),
    );
    reader.add(f);
    return f;
  }

  async function drain(f: RemoteFollower): Promise<Array<[number, StreamEvent]>> {
    const out: Array<[number, StreamEvent]> = [];
    for await (const event of f) out.push([f.seq, event]);
    return out;
  }

  it('feeds history, then live entries, to followers from their own resume points', async () => {
    const id = `chatcmpl-r${++seq}`;
    await redis.set(keys.lease(id), '{}', 'PX', 10_000);
    for (let i = 1; i <= 3; i++) {
      await redis.xadd(keys.events(id), `0-${i}`, 'e', JSON.stringify(chunk(id, `c${i}`)));
    }
    const whole = follower(id);
    const tail = follower(id, 2);
    const [all, rest] = [drain(whole), drain(tail)];
    await waitFor('history delivered', () => whole.lastRead === 3 && tail.lastRead === 3);
    await redis.xadd(keys.events(id), '0-4', 'e', JSON.stringify(chunk(id, 'c4')));
    const done: StreamEvent = {
      type: 'completed',
      completionId: id,
      finishReason: 'stop',
      usage: { promptTokens: 1, completionTokens: 4, totalTokens: 5 },
    };
    await redis.xadd(keys.events(id), '0-5', 'e', JSON.stringify(done), 't', '1');
    expect((await all).map(([n]) => n)).toEqual([1, 2, 3, 4, 5]);
    const restEvents = await rest;
    expect(restEvents.map(([n]) => n)).toEqual([3, 4, 5]);
    expect(restEvents.at(-1)![1]).toEqual(done);
  }, 10_000);

  it('ends a stream whose lease lapsed with stream_owner_lost, written to the stream', async () => {
    const id = `chatcmpl-r${++seq}`;
    await redis.xadd(keys.events(id), '0-1', 'e', JSON.stringify(chunk(id, 'only')));
    const events = await drain(follower(id));
    expect(events.map(([n]) => n)).toEqual([1, 2]);
    expect(events[1]![1]).toMatchObject({ type: 'error', error: { code: 'stream_owner_lost' } });
    const last = await redis.xrevrange(keys.events(id), '+', '-', 'COUNT', 1);
    expect(last[0]![0]).toBe('0-2');
    expect(last[0]![1]).toContain('t');
  }, 10_000);
});
