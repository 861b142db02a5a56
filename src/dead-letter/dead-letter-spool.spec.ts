import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeadLetter } from './dead-letter';
import { DeadLetterSpool, parseSpooledLetter } from './dead-letter-spool';
import { storedLetter } from './testing/dead-letters';
import { SpoolFilesFake } from './testing/spool-files.fake';
import { waitFor } from '../common/testing/wait-for';

describe('DeadLetterSpool', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cb-spool-'));
    path = join(dir, 'nested', 'dl.spool.ndjson');
  });
  const spools: DeadLetterSpool[] = [];
  /** A spool closed after the test (it keeps its file open while in use). */
  const spoolAt = (file: string) => {
    const spool = new DeadLetterSpool(file);
    spools.push(spool);
    return spool;
  };
  afterEach(async () => {
    await Promise.all(spools.splice(0).map((spool) => spool.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  const linesOf = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

  async function collect(spool: DeadLetterSpool, fail?: (letter: DeadLetter, n: number) => boolean) {
    const stored: DeadLetter[] = [];
    const result = await spool.drain((letter) => {
      if (fail?.(letter, stored.length)) return Promise.reject(new Error('Redis went away'));
      stored.push(letter);
      return Promise.resolve();
    });
    return { stored, result };
  }

  it('appends one JSON line per letter, creating the directories, and counts them', async () => {
    const spool = spoolAt(path);
    await spool.open();
    const letters = [storedLetter({ prompt: 'one\ntwo' }), storedLetter(), storedLetter()];
    await Promise.all(letters.map((letter) => spool.append(letter)));
    expect(spool.pending).toBe(3);
    const lines = linesOf(path);
    expect(lines).toHaveLength(3);
    expect(lines.map((line) => parseSpooledLetter(line))).toEqual(letters);
  });

  it('drains every letter in order, then the spool files are gone', async () => {
    const spool = spoolAt(path);
    await spool.open();
    const letters = [storedLetter(), storedLetter(), storedLetter()];
    for (const letter of letters) await spool.append(letter);
    const { stored, result } = await collect(spool);
    expect(stored.map((l) => l.id)).toEqual(letters.map((l) => l.id));
    expect(result).toEqual({ stored: 3, bad: 0, remaining: 0 });
    expect(spool.pending).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(spool.drainingPath)).toBe(false);
  });

  it('keeps the letters not stored when a store fails, and the next drain takes them first', async () => {
    const spool = spoolAt(path);
    await spool.open();
    const letters = [storedLetter(), storedLetter(), storedLetter()];
    for (const letter of letters) await spool.append(letter);
    const first = await collect(spool, (_letter, n) => n === 1);
    expect(first.stored.map((l) => l.id)).toEqual([letters[0]!.id]);
    expect(first.result).toMatchObject({ stored: 1, remaining: 2, error: expect.any(Error) });
    expect(spool.pending).toBe(2);
    expect(linesOf(spool.drainingPath).map((l) => parseSpooledLetter(l)?.id)).toEqual(
      letters.slice(1).map((l) => l.id),
    );

    const later = storedLetter();
    await spool.append(later); // goes to a fresh spool file while the draining one waits
    expect(linesOf(path)).toHaveLength(1);
    const second = await collect(spool);
    expect(second.stored.map((l) => l.id)).toEqual([...letters.slice(1), later].map((l) => l.id));
    expect(spool.pending).toBe(0);
  });

  it('at open, counts a leftover draining file from a crash; the drain takes it before the spool', async () => {
    const crashed = [storedLetter(), storedLetter()];
    const newer = storedLetter();
    const spool = spoolAt(path);
    await spool.append(newer);
    writeFileSync(spool.drainingPath, crashed.map((l) => JSON.stringify(l)).join('\n') + '\n');

    const reopened = spoolAt(path);
    await reopened.open();
    expect(reopened.pending).toBe(3);
    const { stored } = await collect(reopened);
    expect(stored.map((l) => l.id)).toEqual([...crashed, newer].map((l) => l.id));
  });

  it('moves malformed lines to <spool>.bad instead of dropping them', async () => {
    const good = storedLetter();
    const spool = spoolAt(path);
    await spool.append(good);
    const torn = JSON.stringify(storedLetter()).slice(0, 40);
    const notALetter = JSON.stringify({ id: 'dl-nope', hello: 1 });
    writeFileSync(path, `${readFileSync(path, 'utf8')}${notALetter}\n${torn}`);

    const reopened = spoolAt(path);
    await reopened.open();
    expect(reopened.pending).toBe(3);
    await reopened.append(storedLetter()); // the torn line got its newline first: this one stays whole
    const { stored, result } = await collect(reopened);
    expect(result).toMatchObject({ stored: 2, bad: 2 });
    expect(stored[0]!.id).toBe(good.id);
    expect(linesOf(reopened.badPath)).toEqual([notALetter, torn]);
    expect(reopened.pending).toBe(0);
  });

  it('has nothing to drain when there is no spool', async () => {
    const spool = spoolAt(path);
    await spool.open();
    expect(spool.pending).toBe(0);
    expect((await collect(spool)).result).toEqual({ stored: 0, bad: 0, remaining: 0 });
  });
});

describe('DeadLetterSpool group commit', () => {
  let dir: string;
  let path: string;
  let files: SpoolFilesFake;
  let spool: DeadLetterSpool;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cb-spool-gc-'));
    path = join(dir, 'dl.spool.ndjson');
    files = new SpoolFilesFake();
    spool = new DeadLetterSpool(path, files.open);
    await spool.open();
  });
  afterEach(async () => {
    files.releaseSyncs();
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const idsIn = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => parseSpooledLetter(line)?.id);

  /** Appends and notes when each append settles. */
  function track(letters: DeadLetter[]) {
    const settled: Array<'resolved' | 'rejected' | undefined> = letters.map(() => undefined);
    const all = Promise.allSettled(
      letters.map((letter, i) =>
        spool.append(letter).then(
          () => void (settled[i] = 'resolved'),
          (err: unknown) => {
            settled[i] = 'rejected';
            throw err;
          },
        ),
      ),
    );
    return { settled, all };
  }

  it('writes a burst of concurrent appends with one write and one fdatasync, keeping the file open', async () => {
    const letters = Array.from({ length: 200 }, () => storedLetter());
    await Promise.all(letters.map((letter) => spool.append(letter)));
    expect(files.writes).toHaveLength(1);
    expect(files.syncs).toBe(1);
    expect(spool.commits).toBe(1);
    expect(spool.pending).toBe(200);
    expect(idsIn(path)).toEqual(letters.map((l) => l.id));

    await Promise.all(letters.slice(0, 3).map((letter) => spool.append(letter)));
    expect(files.opens).toBe(1); // the same file, not one open per line
    expect(files.syncs).toBe(2);
  });

  it('resolves no caller before its batch is synced; appends made meanwhile form the next batch, in order', async () => {
    files.holdSyncs = true;
    const first = Array.from({ length: 5 }, () => storedLetter());
    const a = track(first);
    await waitFor('a write to be waiting', () => files.waiting === 1, 4_000);
    const second = Array.from({ length: 7 }, () => storedLetter());
    const b = track(second);
    await new Promise((resolve) => setImmediate(resolve));
    // Written, not yet synced: nobody is told their letter is durable.
    expect([...a.settled, ...b.settled].every((s) => s === undefined)).toBe(true);
    expect(files.writes).toHaveLength(1);
    expect(spool.pending).toBe(0);

    files.releaseSyncs();
    files.holdSyncs = true; // hold the second batch's sync
    await a.all;
    expect(a.settled.every((s) => s === 'resolved')).toBe(true);
    await waitFor('a write to be waiting', () => files.waiting === 1, 4_000);
    expect(b.settled.every((s) => s === undefined)).toBe(true);
    expect(spool.pending).toBe(5);
    files.releaseSyncs();
    await b.all;
    expect(b.settled.every((s) => s === 'resolved')).toBe(true);
    expect(files.writes).toHaveLength(2);
    expect(spool.commits).toBe(2);
    expect(idsIn(path)).toEqual([...first, ...second].map((l) => l.id));
  });

  it('a failed write rejects exactly its batch; the torn part never swallows the next letter', async () => {
    const before = storedLetter();
    await spool.append(before);
    files.failNextWrite(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }), 30);
    const failed = [storedLetter(), storedLetter()];
    const results = await Promise.allSettled(failed.map((letter) => spool.append(letter)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'ENOSPC' });
    expect(spool.pending).toBe(1);

    const after = [storedLetter(), storedLetter()];
    await Promise.all(after.map((letter) => spool.append(letter)));
    expect(spool.pending).toBe(3);
    expect(files.opens).toBe(2); // reopened after the failure
    const stored: string[] = [];
    const result = await spool.drain((letter) => {
      stored.push(letter.id);
      return Promise.resolve();
    });
    expect(stored).toEqual([before, ...after].map((l) => l.id));
    expect(result).toMatchObject({ stored: 3, bad: 1 });
    expect(readFileSync(spool.badPath, 'utf8')).toBe(`${JSON.stringify(failed[0]).slice(0, 30)}\n`);
  });

  it('a failed fdatasync rejects its batch, and the next batch is synced on a fresh handle', async () => {
    files.failNextSync(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    const results = await Promise.allSettled([spool.append(storedLetter()), spool.append(storedLetter())]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(spool.pending).toBe(0);
    const next = storedLetter();
    await spool.append(next);
    expect(files.opens).toBe(2);
    expect(files.syncs).toBe(1);
    expect(spool.pending).toBe(1);
  });

  it('a drain closes the open file first: letters appended during and after it land in a fresh spool', async () => {
    const early = [storedLetter(), storedLetter()];
    await Promise.all(early.map((letter) => spool.append(letter)));
    const late = storedLetter();
    const stored: string[] = [];
    let appended: Promise<void> | undefined;
    await spool.drain((letter) => {
      stored.push(letter.id);
      appended ??= spool.append(late);
      return appended;
    });
    expect(stored).toEqual(early.map((l) => l.id));
    expect(files.closes).toBe(1);
    expect(existsSync(spool.drainingPath)).toBe(false);
    expect(idsIn(path)).toEqual([late.id]);
    expect(spool.pending).toBe(1);
  });

  it('reopens after close()', async () => {
    await spool.append(storedLetter());
    await spool.close();
    await spool.append(storedLetter());
    expect(files.opens).toBe(2);
    expect(idsIn(path)).toHaveLength(2);
  });
});

describe('parseSpooledLetter', () => {
  it('accepts a letter and defaults its replays', () => {
    const { replays: _replays, ...rest } = storedLetter();
    expect(parseSpooledLetter(JSON.stringify(rest))).toEqual({ ...rest, replays: [] });
  });

  it.each([
    ['not JSON', '{"id":'],
    ['an array', '[]'],
    ['a bad id', JSON.stringify({ ...storedLetter(), id: 'dl-1:2' })],
    ['no request', JSON.stringify({ ...storedLetter(), request: 'x' })],
    ['no attempts', JSON.stringify({ ...storedLetter(), attempts: {} })],
  ])('rejects %s', (_what, line) => {
    expect(parseSpooledLetter(line)).toBeUndefined();
  });
});
