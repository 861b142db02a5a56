import { appendFile, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
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

/** The spool file as the spool writes it: appends (O_APPEND), data syncs and a close. */
export interface SpoolFile {
  appendFile(data: string): Promise<void>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** Opens `path` for appending, creating it. The default is node's `open(path, 'a')`; tests inject faults. */
export type OpenSpoolFile = (path: string) => Promise<SpoolFile>;

const openForAppend: OpenSpoolFile = (path) => open(path, 'a');

interface QueuedLine {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The local, append-only file dead letters go to while Redis cannot take them: one JSON letter per line
 * (`<spool>`). Nothing in it is lost across a restart or a crash (kill -9):
 * - an append resolves only once its line is on disk (fdatasync). Appends are group-committed: the lines
 *   queued while one commit is syncing are written together in one append and made durable by one
 *   fdatasync, and every caller of a batch is resolved (or, when the write or the sync fails, rejected) with
 *   it. Lines keep their order; commits are serialized, so lines never interleave. The file stays open while
 *   the spool is in use (no open/close per line); a newly created file also gets its directory synced;
 * - a drain first renames `<spool>` to `<spool>.draining` (under the append lock, having closed the file, so
 *   new letters go to a fresh file), stores each line with the letter's own id as the job id (a repeated
 *   store is a no-op, so a crash mid-drain duplicates nothing), then deletes the draining file;
 * - when a store fails the draining file is rewritten (temp file + rename) with the lines not yet stored, and
 *   the next drain, like a boot after a crash, starts with it;
 * - a line that does not parse as a letter (say, half a line written by a crash) is appended to `<spool>.bad`,
 *   for a human, and not retried;
 * - a spool whose last line lacks its newline (a crash mid-append, a failed write) gets one before the next
 *   append, so a torn line never swallows the letter after it.
 * The spool is per node (a local path); two processes must not share one.
 */
export class DeadLetterSpool {
  readonly drainingPath: string;
  readonly badPath: string;
  private lock: Promise<unknown> = Promise.resolve();
  private pendingLines = 0;
  private queued: QueuedLine[] = [];
  /** A commit is scheduled or running; it takes every line queued by the time it starts. */
  private committing = false;
  private file?: SpoolFile;
  /** The open file's last line may lack its newline (a failed write): start the next write with one. */
  private torn = false;
  private syncs = 0;

  constructor(
    readonly path: string,
    private readonly openFile: OpenSpoolFile = openForAppend,
  ) {
    this.drainingPath = `${path}.draining`;
    this.badPath = `${path}.bad`;
  }

  /** Letters waiting in the spool (both files). */
  get pending(): number {
    return this.pendingLines;
  }

  /** Group commits so far (one write and one fdatasync each). */
  get commits(): number {
    return this.syncs;
  }

  /** Counts what an earlier run left behind. Call once before use. */
  async open(): Promise<void> {
    await this.locked(async () => {
      const live = await readIfExists(this.path);
      const draining = await readIfExists(this.drainingPath);
      this.pendingLines = countLines(live) + countLines(draining);
    });
  }

  /**
   * Appends one letter as one line; resolves once it is on disk (fdatasynced), rejects when its batch could not
   * be written or synced.
   */
  append(letter: DeadLetter): Promise<void> {
    const line = `${JSON.stringify(letter)}\n`;
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ line, resolve, reject });
      if (!this.committing) this.scheduleCommit();
    });
  }

  /** Closes the file (after the commits queued so far). An append after this opens it again. */
  close(): Promise<void> {
    return this.locked(() => this.closeFile());
  }

  private scheduleCommit(): void {
    this.committing = true;
    void this.locked(() => this.commit());
  }

  /** One group commit: every line queued so far, one append, one fdatasync. Runs under the lock. */
  private async commit(): Promise<void> {
    const batch = this.queued;
    this.queued = [];
    try {
      const file = await this.openedFile();
      let data = this.torn ? '\n' : '';
      for (const queued of batch) data += queued.line;
      await file.appendFile(data);
      this.torn = false;
      await file.datasync();
      this.syncs++;
      this.pendingLines += batch.length;
      for (const queued of batch) queued.resolve();
    } catch (err) {
      // Reopen for the next batch; whatever part of this one reached the file is not counted as stored.
      await this.closeFile().catch(() => undefined);
      for (const queued of batch) queued.reject(err);
    } finally {
      // Lines queued while this batch was syncing form the next one (behind any drain waiting on the lock).
      if (this.queued.length > 0) this.scheduleCommit();
      else this.committing = false;
    }
  }

  /** The spool file, opened (and created, its directory then synced) on first use. */
  private async openedFile(): Promise<SpoolFile> {
    if (this.file) return this.file;
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const size = await sizeOf(this.path);
    const file = await this.openFile(this.path);
    try {
      if (size === undefined) await syncDirectory(dir);
      else if (size > 0 && !(await endsWithNewline(this.path, size))) this.torn = true;
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
    this.file = file;
    return file;
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    // Whether the tail is whole is found out again at the next open.
    this.torn = false;
    await file?.close();
  }

  /**
   * Hands every spooled letter, oldest first, to `store`; stops at the first failure and keeps the rest.
   * Not reentrant: callers run one drain at a time.
   */
  async drain(store: (letter: DeadLetter) => Promise<void>): Promise<SpoolDrainResult> {
    const result: SpoolDrainResult = { stored: 0, bad: 0, remaining: 0 };
    if ((await exists(this.drainingPath)) && !(await this.drainFile(store, result))) return result;
    const moved = await this.locked(async () => {
      // The open file follows a rename: close it, so that the next append creates a fresh spool.
      await this.closeFile();
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
        await writeDurably(temp, `${rest.join('\n')}\n`);
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

/** The file's size, or undefined when there is none. */
async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    ignoreMissing(err);
    return undefined;
  }
}

async function endsWithNewline(path: string, size: number): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(1), 0, 1, size - 1);
    return bytesRead === 1 && buffer[0] === 0x0a;
  } finally {
    await file.close();
  }
}

/** Writes a whole file and syncs it (before it replaces another by a rename). */
async function writeDurably(path: string, data: string): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.writeFile(data);
    await file.datasync();
  } finally {
    await file.close();
  }
}

/** Makes a new directory entry durable (a file just created in `dir`). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
