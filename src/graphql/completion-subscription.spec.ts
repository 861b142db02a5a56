import { StreamErrorCode } from '../contract/error-code';
import type { StreamEvent } from '../contract/stream-event';
import { CompletionLog } from '../streaming/hub/completion-log';
import { LocalFollower } from '../streaming/hub/followers';
import { CompletionSubscription } from './completion-subscription';

const ID = 'chatcmpl-1';
const chunk = (content: string): StreamEvent => ({
  type: 'content_chunk',
  completionId: ID,
  content,
  index: 0,
});
const completed: StreamEvent = {
  type: 'completed',
  completionId: ID,
  finishReason: 'stop',
  usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 },
};

/** A real hub follower over a log in memory, as the hub hands out on the node that runs a completion. */
function setup(after = 0) {
  const log = new CompletionLog();
  const identity = { completionId: ID, created: 1, model: 'simulated/echo', provider: 'simulated' };
  const left = jest.fn();
  const follower = new LocalFollower(identity, log, after, undefined, left);
  const closeSpy = jest.spyOn(follower, 'close');
  const subscription = new CompletionSubscription(follower);
  const closed = jest.fn();
  subscription.whenClosed(closed);
  return { log, identity, follower, left, closeSpy, subscription, closed };
}

describe('CompletionSubscription', () => {
  it('numbers events by the follower, names who served on the terminal one, then ends and closes', async () => {
    const { log, identity, subscription, closed, left } = setup();
    log.append(chunk('a'), false);
    log.append(chunk('b'), false);
    const first = await subscription.next();
    expect(first).toEqual({ done: false, value: { seq: 1, at: expect.any(Number), event: chunk('a') } });
    expect((await subscription.next()).value).toMatchObject({ seq: 2, event: chunk('b') });
    // Failover served another model by the end: the terminal event names the follower's model then.
    identity.model = 'simulated/lorem';
    const waiting = subscription.next();
    log.append(completed, true);
    expect((await waiting).value).toEqual({
      seq: 3,
      at: expect.any(Number),
      event: { ...completed, model: 'simulated/lorem', provider: 'simulated' },
    });
    expect(closed).not.toHaveBeenCalled();
    expect(await subscription.next()).toEqual({ done: true, value: undefined });
    expect(closed).toHaveBeenCalledTimes(1);
    expect(left).toHaveBeenCalledTimes(1);
  });

  it('resumes after a sequence number', async () => {
    const { log, subscription } = setup(2);
    for (const c of ['a', 'b', 'c']) log.append(chunk(c), false);
    expect((await subscription.next()).value).toMatchObject({ seq: 3, event: chunk('c') });
  });

  it('fail() rejects a next() that waits for an event, closes the follower and runs the close listeners', async () => {
    const { subscription, closeSpy, closed } = setup();
    const waiting = subscription.next();
    const timeout = new Error('timed out');
    subscription.fail(timeout);
    await expect(waiting).rejects.toBe(timeout);
    expect(closeSpy).toHaveBeenCalled();
    expect(closed).toHaveBeenCalledTimes(1);
    expect(await subscription.next()).toEqual({ done: true, value: undefined });
  });

  it('fail() between events rejects the next read once', async () => {
    const { log, subscription, closed } = setup();
    log.append(chunk('a'), false);
    await subscription.next();
    const error = new Error('shutting down');
    subscription.fail(error);
    await expect(subscription.next()).rejects.toBe(error);
    expect(closed).toHaveBeenCalledTimes(1);
    expect(await subscription.next()).toEqual({ done: true, value: undefined });
  });

  it('return() (the client completes or disconnects) closes the follower at once, even while a next() waits', async () => {
    const { subscription, closeSpy, closed, left } = setup();
    const waiting = subscription.next();
    expect(await subscription.return()).toEqual({ done: true, value: undefined });
    expect(closeSpy).toHaveBeenCalled();
    expect(left).toHaveBeenCalledTimes(1);
    expect(closed).toHaveBeenCalledTimes(1);
    expect(await waiting).toEqual({ done: true, value: undefined });
  });

  it('an error event is delivered as an event, with who served it', async () => {
    const { log, subscription } = setup();
    const error: StreamEvent = {
      type: 'error',
      completionId: ID,
      error: { code: StreamErrorCode.Cancelled, message: 'The completion was cancelled.', retryable: false },
    };
    log.append(error, true);
    expect((await subscription.next()).value?.event).toEqual({
      ...error,
      model: 'simulated/echo',
      provider: 'simulated',
    });
    expect((await subscription.next()).done).toBe(true);
  });

  it('whenClosed after the end runs at once', async () => {
    const { log, subscription } = setup();
    log.append(completed, true);
    await subscription.next();
    await subscription.next();
    const late = jest.fn();
    subscription.whenClosed(late);
    expect(late).toHaveBeenCalledTimes(1);
  });
});
