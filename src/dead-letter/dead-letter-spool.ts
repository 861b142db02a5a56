import { appendFile, mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isObject } from '../common/is-object';
import { type DeadLetter, isDeadLetterId } from './dead-letter';

export interface SpoolDrainResult {
  /** Letters handed to `store` successfully (and gone from the spool). */
  stored: number;
  /** Malformed lines moved to `<spool>.bad`. */
  bad: number;
  /** Letters still spooled because `store` failed; they are tried again by the next drain. */
  remaining: number;
  /** Why the drain stopped early, when it did. */
  error?: unknown;
}

/**
 * The local, append-only file dead letters go to while Redis cannot take them: one JSON letter per line
 * (`<spool>`). Nothing in it is lost across a restart:
 * - an append is one write of one whole line, fsynced (datasync) before it resolves; appends are serialized
 *   so lines never interleave;
 * - a drain first renames `<spool>` to `<spool>.draining` (under the append lock, so new letters go to a fresh
 *   file), stores each line with the letter's own id as the job id (a repeated store is a no-op, so a crash
 *   mid-drain duplicates nothing), then deletes the draining file;
 * - when a store fails the draining file is rewritten (temp file + rename) with the lines not yet stored, and
 *   the next drain, like a boot after a crash, starts with it;
 * - a line that does not parse as a letter (say, half a line written by a crash) is appended to `<spool>.bad`,
 *   for a human, and not retried;
 * - a spool whose last line lacks its newline (a crash mid-append) gets one before the next append.
 * The spool is per node (a local path); two processes must not share one.
 */
export class DeadLetterSpool {
  readonly drainingPath: string;
  readonly badPath: string;
  private lock: Promise<unknown> = Promise.resolve();
  private pendingLines = 0;

  constructor(readonly path: string) {
    this.drainingPath = `${path}.draining`;
    this.badPath = `${path}.bad`;
  }

  /** Letters waiting in the spool (both files). */
  get pending(): number {
    return this.pendingLines;
  }

  /** Counts what an earlier run left behind and repairs a torn last line. Call once before use. */
  async open(): Promise<void> {
    await this.locked(async () => {
      const live = await readIfExists(this.path);
      const draining = await readIfExists(this.drainingPath);
      this.pendingLines = countLines(live) + countLines(draining);
      if (live !== undefined && live.length > 0 && !live.endsWith('\n')) await appendFile(this.path, '\n');
    });
  }

  /** Appends one letter as one line; resolves once it is on disk. */
  append(letter: DeadLetter): Promise<void> {
    const line = `${JSON.stringify(letter)}\n`;
    return this.locked(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const file = await open(this.path, 'a');
      try {
        await file.appendFile(line);
        await file.datasync();
      } finally {
        await file.close();
      }
      this.pendingLines++;
    });
  }

  /**
   * Hands every spooled letter, oldest first, to `store`; stops at the first failure and keeps the rest.
   * Not reentrant: callers run one drain at a time.
   */
  async drain(store: (letter: DeadLetter) => Promise<void>): Promise<SpoolDrainResult> {
    const result: SpoolDrainResult = { stored: 0, bad: 0, remaining: 0 };
    if ((await exists(this.drainingPath)) && !(await this.drainFile(store, result))) return result;
    const moved = await this.locked(async () => {
      if (!(await exists(this.path))) return false;
      await rename(this.path, this.drainingPath);
      return true;
    });
    if (moved) await this.drainFile(store, result);
    return result;
  }

  /** Drains `<spool>.draining`; false when a store failed (the file then holds what is left). */
  private async drainFile(
    store: (letter: DeadLetter) => Promise<void>,
    result: SpoolDrainResult,
  ): Promise<boolean> {
    const lines = ((await readIfExists(this.drainingPath)) ?? '').split('\n').filter((l) => l.trim() !== '');
    for (const [i, line] of lines.entries()) {
      const letter = parseSpooledLetter(line);
      if (!letter) {
        await mkdir(dirname(this.badPath), { recursive: true });
        await appendFile(this.badPath, `${line}\n`);
        result.bad++;
        this.pendingLines--;
        continue;
      }
      try {
        await store(letter);
      } catch (err) {
        const rest = lines.slice(i);
        const temp = `${this.drainingPath}.tmp`;
        await writeFile(temp, `${rest.join('\n')}\n`);
        await rename(temp, this.drainingPath);
        result.remaining += rest.length;
        result.error = err;
        return false;
      }
      result.stored++;
      this.pendingLines--;
    }
    await unlink(this.drainingPath).catch(ignoreMissing);
    return true;
  }

  private locked<T>(task: () => Promise<T>): Promise<T> {
    const run = this.lock.then(task, task);
    this.lock = run.catch(() => undefined);
    return run;
  }
}

/** A spool line as a letter, or undefined when it is not one (torn, edited, another format). */
export function parseSpooledLetter(line: string): DeadLetter | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const { id, request, errorKind, failedAt, attempts, chain, replays } = value;
  if (typeof id !== 'string' || !isDeadLetterId(id)) return undefined;
  if (!isObject(request) || typeof request.model !== 'string' || !Array.isArray(request.messages))
    return undefined;
  if (typeof errorKind !== 'string' || typeof failedAt !== 'string') return undefined;
  if (!Array.isArray(attempts) || !Array.isArray(chain)) return undefined;
  if (replays !== undefined && !Array.isArray(replays)) return undefined;
  return {
    ...(value as unknown as DeadLetter),
    replays: (replays as DeadLetter['replays'] | undefined) ?? [],
  };
}

function countLines(text: string | undefined): number {
  if (!text) return 0;
  let n = 0;
  for (const line of text.split('\n')) if (line.trim() !== '') n++;
  return n;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    ignoreMissing(err);
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    ignoreMissing(err);
    return false;
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
