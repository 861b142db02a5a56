import pino from 'pino';
import { MetricsService } from '../../analytics/metrics.service';
import { waitFor } from '../../common/testing/wait-for';
import { loadConfig } from '../../config/config.loader';
import { DomainError, StreamErrorCode } from '../../contract/error-code';
import { OPEN_PRINCIPAL, type Principal } from '../../contract/principal';
import type { StreamEvent } from '../../contract/stream-event';
import { CompletionFollows } from './completion-follows';
import { ConnectionState, type MuxSession } from './connection-state';
import { FakeConnection } from './testing/fake-connection';
import { FakeHub } from './testing/fake-hub';

/** A session of user `alice` (own-scoped) that records the stream slots it hands out. */
class FakeSession implements MuxSession {
  readonly held = new Set<string>();
  limited = false;
  constructor(readonly principal: Principal) {}
  reauthenticate(): never {
    throw new Error('not in these tests');
  }
  hit(): Promise<void> {
    if (!this.limited) return Promise.resolve();
    return Promise.reject(new DomainError(StreamErrorCode.RateLimitExceeded, 'Too many requests.'));
  }
  acquireStream(streamId: string): Promise<() => void> {
    this.held.add(streamId);
    return Promise.resolve(() => this.held.delete(streamId));
  }
}

const ALICE: Principal = { ...OPEN_PRINCIPAL, userId: 'alice', admin: false, scope: 'own', anonymous: false };

const answer = (completionId: string, text: string[]): StreamEvent[] => [
  ...text.map((content) => ({ type: 'content_chunk' as const, completionId, content, index: 0 })),
  {
    type: 'completed',
    completionId,
    finishReason: 'stop',
    usage: { promptTokens: 1, completionTokens: text.length, totalTokens: 1 + text.length },
  },
];

function setup(principal: Principal | undefined = ALICE, maxFollowed = 2) {
  const config = loadConfig({ env: {} });
  const connection = new FakeConnection();
  const session = principal && new FakeSession(principal);
  const state = new ConnectionState(
    'ws-1',
    connection,
    session,
    { budget: 1 << 20, meter: new MetricsService(config).meter('ws') },
    () => undefined,
  );
  const hub = new FakeHub();
  const follows = new CompletionFollows(hub, maxFollowed, pino({ level: 'silent' }));
  return { connection, session, state, hub, follows };
}

describe('CompletionFollows: subscribe_completion', () => {
  it('acknowledges, then forwards the tail after afterSequence with completionId and seq (no client id)', async () => {
    const { connection, session, state, hub, follows } = setup();
    hub.completions.set('chatcmpl-1', { events: answer('chatcmpl-1', ['a', 'b', 'c']), owner: 'alice' });
    follows.follow(state, 'chatcmpl-1', 1);
    await waitFor('the follow to end', () => state.followed.size === 0 && connection.sent.length > 1, 1_000);
    expect(connection.sent).toEqual([
      { type: 'subscribed', streams: [], workflows: [], completions: ['chatcmpl-1'] },
      { type: 'content_chunk', completionId: 'chatcmpl-1', seq: 2, content: 'b' },
      { type: 'content_chunk', completionId: 'chatcmpl-1', seq: 3, content: 'c' },
      {
        type: 'completed',
        completionId: 'chatcmpl-1',
        seq: 4,
        usage: { promptTokens: 1, completionTokens: 3, totalTokens: 4 },
        finishReason: 'stop',
        model: 'simulated/echo',
        provider: 'simulated',
      },
    ]);
    // Followed as the viewer it is (the hub checks ownership and event types), keeping it alive.
    expect(hub.follows[0]?.options).toEqual({ viewer: ALICE, after: 1 });
    expect(session.held.size).toBe(0);
  });

  it("refuses an unknown completion and another user's with an error naming it, and carries on", async () => {
    const { connection, state, hub, follows } = setup();
    hub.completions.set('chatcmpl-bob', { events: answer('chatcmpl-bob', ['x']), owner: 'bob' });
    follows.follow(state, 'chatcmpl-none', undefined);
    follows.follow(state, 'chatcmpl-bob', undefined);
    await waitFor('both refusals', () => connection.sent.length === 2, 1_000);
    expect(connection.sent).toEqual([
      {
        type: 'error',
        completionId: 'chatcmpl-none',
        error: { code: 'not_found', message: expect.any(String) as string, param: 'completionId' },
      },
      {
        type: 'error',
        completionId: 'chatcmpl-bob',
        error: { code: 'forbidden', message: expect.any(String) as string, param: 'completionId' },
      },
    ]);
    expect(state.followed.size).toBe(0);
  });

  it('caps follows per connection, and unfollow stops one and frees its slot', async () => {
    const { session, state, hub, follows } = setup();
    for (const id of ['chatcmpl-1', 'chatcmpl-2'])
      hub.completions.set(id, { events: [], owner: 'alice', running: true });
    follows.follow(state, 'chatcmpl-1', undefined);
    follows.follow(state, 'chatcmpl-2', undefined);
    expect(() => follows.follow(state, 'chatcmpl-3', undefined)).toThrow(/At most 2 completions/);
    await waitFor('both slots', () => session.held.size === 2, 1_000);
    follows.unfollow(state, 'chatcmpl-1');
    expect([...session.held]).toEqual(['ws-1:completion:chatcmpl-2']);
    follows.unfollowAll(state);
    expect(session.held.size).toBe(0);
    expect(state.followed.size).toBe(0);
  });
});

describe('CompletionFollows: the completion stream', () => {
  it('follows every start its user may see, not its own completions nor other users', async () => {
    const { connection, state, hub, follows } = setup();
    follows.startFeed(state);
    expect(hub.listening).toBe(1);
    state.own.add('chatcmpl-mine');
    hub.announce('chatcmpl-mine', { events: answer('chatcmpl-mine', ['no']), owner: 'alice' });
    hub.announce('chatcmpl-bob', { events: answer('chatcmpl-bob', ['no']), owner: 'bob' });
    hub.announce('chatcmpl-sse', { events: answer('chatcmpl-sse', ['yes']), owner: 'alice' });
    await waitFor('its end', () => connection.sent.some((m) => m.type === 'completed'), 1_000);
    expect(connection.sent.map((m) => [m.type, m.completionId, m.seq])).toEqual([
      ['content_chunk', 'chatcmpl-sse', 1],
      ['completed', 'chatcmpl-sse', 2],
    ]);
    // Not keeping it alive: a watcher of every completion does not hold an abandoned one.
    expect(hub.follows.map((f) => [f.completionId, f.options.keepsAlive])).toEqual([['chatcmpl-sse', false]]);
    await waitFor('forgotten', () => state.completionFeed?.followers.size === 0, 1_000);
    follows.stopFeed(state);
    expect(hub.listening).toBe(0);
  });

  it('looks an announced start of another node up again until Redis has it', async () => {
    const { connection, state, hub, follows } = setup();
    follows.startFeed(state);
    const follow = hub.follow.bind(hub);
    let misses = 2;
    hub.follow = (id, options) => {
      if (misses-- > 0) return follow('chatcmpl-unknown', options);
      return follow(id, options);
    };
    hub.announce('chatcmpl-far', { events: answer('chatcmpl-far', ['far']), owner: 'alice' }, 'node-b');
    await waitFor('its end', () => connection.sent.some((m) => m.type === 'completed'), 2_000);
    expect(connection.sent.map((m) => m.type)).toEqual(['content_chunk', 'completed']);
    expect(misses).toBe(-1);
  });

  it('hands a completion over to subscribe_completion (no event twice) and stops all on unsubscribe', async () => {
    const { connection, state, hub, follows } = setup();
    follows.startFeed(state);
    hub.announce('chatcmpl-1', { events: [], owner: 'alice', running: true });
    await waitFor(
      'followed',
      () => state.completionFeed?.followers.get('chatcmpl-1')?.follow !== undefined,
      1_000,
    );
    expect(hub.follows[0]?.follow.closed).toBe(false);
    follows.follow(state, 'chatcmpl-1', 0);
    await waitFor('followed by id', () => hub.follows.length === 2, 1_000);
    expect(hub.follows[0]?.follow.closed).toBe(true);
    expect(state.completionFeed?.followers.size).toBe(0);
    expect(state.followed.has('chatcmpl-1')).toBe(true);
    expect(connection.sent.at(-1)).toMatchObject({ type: 'subscribed', completions: ['chatcmpl-1'] });
    follows.unfollowAll(state);
    expect(hub.follows[1]?.follow.closed).toBe(true);
    expect(state.completionFeed).toBeUndefined();
    expect(hub.listening).toBe(0);
  });

  it('ends the subscription with an error when its admission is refused', async () => {
    const { connection, session, state, hub, follows } = setup();
    session.limited = true;
    state.streams.add('completion');
    follows.startFeed(state);
    await waitFor('the refusal', () => connection.sent.length === 1, 1_000);
    expect(connection.sent[0]).toMatchObject({
      type: 'error',
      error: { code: 'rate_limit_exceeded', param: 'streams' },
    });
    expect(state.completionFeed).toBeUndefined();
    expect(state.streams.has('completion')).toBe(false);
    expect(hub.listening).toBe(0);
  });
});
