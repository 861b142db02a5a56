import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeadLetter } from './dead-letter';
import { DeadLetterSpool, parseSpooledLetter } from './dead-letter-spool';
import { storedLetter } from './testing/dead-letters';

describe('DeadLetterSpool', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cb-spool-'));
    path = join(dir, 'nested', 'dl.spool.ndjson');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

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
    const spool = new DeadLetterSpool(path);
    await spool.open();
    const letters = [storedLetter({ prompt: 'one\ntwo' }), storedLetter(), storedLetter()];
    await Promise.all(letters.map((letter) => spool.append(letter)));
    expect(spool.pending).toBe(3);
    const lines = linesOf(path);
    expect(lines).toHaveLength(3);
    expect(lines.map((line) => parseSpooledLetter(line))).toEqual(letters);
  });

  it('drains every letter in order, then the spool files are gone', async () => {
    const spool = new DeadLetterSpool(path);
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
    const spool = new DeadLetterSpool(path);
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
    const spool = new DeadLetterSpool(path);
    await spool.append(newer);
    writeFileSync(spool.drainingPath, crashed.map((l) => JSON.stringify(l)).join('\n') + '\n');

    const reopened = new DeadLetterSpool(path);
    await reopened.open();
    expect(reopened.pending).toBe(3);
    const { stored } = await collect(reopened);
    expect(stored.map((l) => l.id)).toEqual([...crashed, newer].map((l) => l.id));
  });

  it('moves malformed lines to <spool>.bad instead of dropping them', async () => {
    const good = storedLetter();
    const spool = new DeadLetterSpool(path);
    await spool.append(good);
    const torn = JSON.stringify(storedLetter()).slice(0, 40);
    const notALetter = JSON.stringify({ id: 'dl-nope', hello: 1 });
    writeFileSync(path, `${readFileSync(path, 'utf8')}${notALetter}\n${torn}`);

    const reopened = new DeadLetterSpool(path);
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
    const spool = new DeadLetterSpool(path);
    await spool.open();
    expect(spool.pending).toBe(0);
    expect((await collect(spool)).result).toEqual({ stored: 0, bad: 0, remaining: 0 });
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
