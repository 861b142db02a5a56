import { type BusEnvelope, BusSubscription, type BusSubscriptionOptions } from './bus-subscription';

const env = (seq: number, event = `e${seq}`, last = false): BusEnvelope<string> => ({
  seq,
  at: 1_000 + seq,
  event,
  ...(last ? { last: true as const } : {}),
});
const live = (event: string, last = false) => env(0, event, last);

function make(over: Partial<BusSubscriptionOptions<string>> = {}) {
  const onClose = jest.fn();
  const sub = new BusSubscription<string>({
    maxQueued: 100,
    overflow: () => new Error('overflow'),
    onClose,
    ...over,
  });
  return { sub, onClose };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every pending promise callback run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Tracks whether a promise has settled, without awaiting it. */
function watch<T>(promise: Promise<T>) {
  const state = { settled: false };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

/** Reads what is queued now (a read that does not answer at once counts as nothing more). */
async function drain(sub: BusSubscription<string>): Promise<string[]> {
  const out: string[] = [];
  while (sub.queued > 0) {
    const result = await sub.next();
    if (result.done) break;
    out.push(`${result.value.seq}:${result.value.event}`);
  }
  return out;
}

const seqs = (lines: string[]) => lines.map((line) => Number(line.split(':')[0]));

describe('BusSubscription', () => {
  it('delivers live-only events (seq 0) in order, queued or to a waiting reader', async () => {
    const { sub, onClose } = make();
    await sub.start();
    sub.push(live('a'));
    sub.push(live('b'));
    expect(sub.queued).toBe(2);
    expect(await drain(sub)).toEqual(['0:a', '0:b']);

    const pending = sub.next();
    const state = watch(pending);
    await flush();
    expect(state.settled).toBe(false);
    sub.push(live('c'));
    expect(await pending).toEqual({ value: live('c'), done: false });
    expect(onClose).not.toHaveBeenCalled();
  });

  it('replays the history, holding live events pushed during the read, each once and in seq order', async () => {
    const history = deferred<Array<BusEnvelope<string>>>();
    const read = jest.fn(() => history.promise);
    const { sub } = make({ history: read });
    const started = sub.start();
    expect(read).toHaveBeenCalledTimes(1);

    // Live while the history is read: out of order, overlapping the history, and one beyond it.
    sub.push(env(3));
    sub.push(env(5));
    sub.push(env(2));
    sub.push(env(4));
    await flush();
    expect(sub.queued).toBe(0);

    history.resolve([env(1), env(2), env(3)]);
    await started;
    expect(await drain(sub)).toEqual(['1:e1', '2:e2', '3:e3', '4:e4', '5:e5']);
    expect(read).toHaveBeenCalledTimes(1);

    // Later duplicates are dropped, the next seq passes.
    sub.push(env(5));
    sub.push(env(3));
    sub.push(env(6));
    expect(await drain(sub)).toEqual(['6:e6']);
  });

  it('skips the history and live events up to `after`', async () => {
    const { sub } = make({ after: 2, history: () => Promise.resolve([env(1), env(2), env(3), env(4)]) });
    await sub.start();
    sub.push(env(2));
    sub.push(env(4));
    sub.push(env(5));
    expect(await drain(sub)).toEqual(['3:e3', '4:e4', '5:e5']);
  });

  it('fills a gap in the live seqs by reading the history again', async () => {
    const second = deferred<Array<BusEnvelope<string>>>();
    const read = jest
      .fn<Promise<Array<BusEnvelope<string>>>, []>()
      .mockResolvedValueOnce([env(1)])
      .mockReturnValueOnce(second.promise);
    const { sub } = make({ history: read });
    await sub.start();
    sub.push(env(2));
    expect(read).toHaveBeenCalledTimes(1);
    expect(await drain(sub)).toEqual(['1:e1', '2:e2']);

    sub.push(env(5)); // 3 and 4 were lost
    expect(read).toHaveBeenCalledTimes(2);
    sub.push(env(6)); // held while the history is read
    sub.push(env(4));
    await flush();
    expect(sub.queued).toBe(0);

    second.resolve([env(1), env(2), env(3), env(4), env(5)]);
    await flush();
    expect(await drain(sub)).toEqual(['3:e3', '4:e4', '5:e5', '6:e6']);
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('ends after the `last` event is read, and calls onClose once', async () => {
    const { sub, onClose } = make();
    await sub.start();
    sub.push(live('a'));
    sub.push(live('end', true));
    sub.push(live('after the end'));
    expect(sub.queued).toBe(2);

    expect((await sub.next()).value).toEqual(live('a'));
    expect(onClose).not.toHaveBeenCalled();
    expect(await sub.next()).toEqual({ value: live('end', true), done: false });
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('hands the `last` event to a waiting reader and ends', async () => {
    const { sub, onClose } = make({ history: () => Promise.resolve([env(1)]) });
    await sub.start();
    expect((await sub.next()).value).toEqual(env(1));
    const pending = sub.next();
    sub.push(env(2, 'end', true));
    expect(await pending).toEqual({ value: env(2, 'end', true), done: false });
    expect(onClose).toHaveBeenCalledTimes(1);
    sub.push(env(3));
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('drops events `accept` rejects; a rejected `last` event still ends it', async () => {
    const { sub, onClose } = make({ accept: (event) => !event.startsWith('drop') });
    await sub.start();
    sub.push(live('keep1'));
    sub.push(live('drop1'));
    sub.push(live('keep2'));
    expect(await drain(sub)).toEqual(['0:keep1', '0:keep2']);

    sub.push(live('drop-last', true));
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('ends a waiting read when a rejected `last` event arrives', async () => {
    const { sub, onClose } = make({ accept: (event) => event !== 'drop' });
    const pending = sub.next();
    sub.push(live('drop', true));
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('return() ends a pending next() at once and calls onClose once', async () => {
    const { sub, onClose } = make();
    await sub.start();
    const pending = sub.next();
    const state = watch(pending);
    await flush();
    expect(state.settled).toBe(false);

    expect(await sub.return()).toEqual({ value: undefined, done: true });
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);

    sub.push(live('late'));
    expect(sub.queued).toBe(0);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    await sub.return();
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('return() drops what was queued', async () => {
    const { sub, onClose } = make();
    sub.push(live('a'));
    await sub.return();
    expect(sub.queued).toBe(0);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('fail() rejects a pending next() with the error, then reads are done', async () => {
    const { sub, onClose } = make();
    const pending = sub.next();
    const error = new Error('subscription timed out');
    sub.fail(error);
    await expect(pending).rejects.toBe(error);
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('fail() without a reader: the next read rejects (queued events dropped), the one after is done', async () => {
    const { sub, onClose } = make();
    sub.push(live('a'));
    const error = new Error('bus lost');
    sub.fail(error);
    expect(onClose).not.toHaveBeenCalled();
    await expect(sub.next()).rejects.toBe(error);
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    sub.fail(new Error('again'));
    expect(await sub.next()).toEqual({ value: undefined, done: true });
  });

  it('fails with overflow() when more than maxQueued events wait for a slow reader', async () => {
    const error = new Error('slow consumer');
    const overflow = jest.fn(() => error);
    const { sub, onClose } = make({ maxQueued: 2, overflow });
    sub.push(live('a'));
    sub.push(live('b'));
    expect(sub.queued).toBe(2);
    expect(overflow).not.toHaveBeenCalled();

    sub.push(live('c'));
    expect(overflow).toHaveBeenCalledTimes(1);
    expect(sub.queued).toBe(0);
    await expect(sub.next()).rejects.toBe(error);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('keeps exactly maxQueued events for a slow reader', async () => {
    const { sub } = make({ maxQueued: 2 });
    sub.push(live('a'));
    sub.push(live('b'));
    expect(await drain(sub)).toEqual(['0:a', '0:b']);
    sub.push(live('c'));
    sub.push(live('d'));
    expect(await drain(sub)).toEqual(['0:c', '0:d']);
  });

  // The reader must never see a normal end without the terminal event.
  it('fails with overflow() when the event that overflows is the `last` one', async () => {
    const error = new Error('slow consumer');
    const { sub } = make({ maxQueued: 1, overflow: () => error });
    sub.push(live('a'));
    sub.push(live('end', true));
    await expect(sub.next()).rejects.toBe(error);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
  });

  it('runs whenClosed listeners once, and at once when already closed', async () => {
    const { sub } = make();
    const before = jest.fn();
    sub.whenClosed(before);
    expect(before).not.toHaveBeenCalled();
    await sub.return();
    await sub.return();
    expect(before).toHaveBeenCalledTimes(1);

    const after = jest.fn();
    sub.whenClosed(after);
    expect(after).toHaveBeenCalledTimes(1);
    expect(before).toHaveBeenCalledTimes(1);
  });

  it('recover() reads the history again and delivers the missed events', async () => {
    const read = jest
      .fn<Promise<Array<BusEnvelope<string>>>, []>()
      .mockResolvedValueOnce([env(1)])
      .mockResolvedValueOnce([env(1), env(2), env(3)]);
    const { sub } = make({ history: read });
    await sub.start();
    expect(await drain(sub)).toEqual(['1:e1']);

    sub.recover();
    sub.recover(); // a read is under way: no second one
    sub.push(env(3)); // held meanwhile
    await flush();
    expect(read).toHaveBeenCalledTimes(2);
    expect(await drain(sub)).toEqual(['2:e2', '3:e3']);
    sub.push(env(4));
    expect(seqs(await drain(sub))).toEqual([4]);
  });

  it('recover() does nothing without a history', async () => {
    const { sub } = make();
    sub.recover();
    sub.push(live('a'));
    expect(await drain(sub)).toEqual(['0:a']);
  });

  it('fails the subscription when a gap-filling history read fails', async () => {
    const read = jest
      .fn<Promise<Array<BusEnvelope<string>>>, []>()
      .mockResolvedValueOnce([env(1)])
      .mockRejectedValueOnce(new Error('redis down'));
    const { sub, onClose } = make({ history: read });
    await sub.start();
    await drain(sub);
    const pending = sub.next();
    sub.push(env(3));
    await expect(pending).rejects.toThrow('redis down');
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  // Live events that arrive before start() (the bus listens, then awaits the SUBSCRIBE, then starts) wait
  // for the one history read.
  it('copes with a live event that skips a seq before start()', async () => {
    const { sub } = make({ history: () => Promise.resolve([env(1), env(2), env(3)]) });
    sub.push(env(3));
    await expect(sub.start()).resolves.toBeUndefined();
    await flush();
    expect(await drain(sub)).toEqual(['1:e1', '2:e2', '3:e3']);
  });

  it('is its own async iterator (for await ends after `last`)', async () => {
    const { sub } = make({ history: () => Promise.resolve([env(1), env(2, 'x', true)]) });
    await sub.start();
    const seen: number[] = [];
    for await (const envelope of sub) seen.push(envelope.seq);
    expect(seen).toEqual([1, 2]);
  });

  it('ends at once when the topic ended at or before `after` (a resume after the last event)', async () => {
    for (const after of [3, 7]) {
      const { sub, onClose } = make({
        after,
        history: () => Promise.resolve([env(1), env(2), env(3, 'end', true)]),
      });
      await sub.start();
      expect(await sub.next()).toEqual({ value: undefined, done: true });
      expect(onClose).toHaveBeenCalledTimes(1);
    }
  });
});

describe('BusSubscription resumed at or past the end', () => {
  it('ends when the live last event was seen already (resume point past it), instead of waiting forever', async () => {
    const { sub, onClose } = make({ after: 7, history: () => Promise.resolve([env(5), env(6)]) });
    await sub.start();
    const next = sub.next();
    const state = watch(next);
    sub.push(env(6, 'e6'));
    await flush();
    expect(state.settled).toBe(false);
    sub.push(env(7, 'end', true));
    expect(await next).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });
});
