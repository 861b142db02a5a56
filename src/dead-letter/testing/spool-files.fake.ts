import { open } from 'node:fs/promises';
import type { OpenSpoolFile, SpoolFile } from '../dead-letter-spool';

/**
 * Real spool files (node's open(path, 'a')) that a test can watch and steer: it sees every write and sync,
 * can hold syncs until it releases them, and can make the next write fail (after writing part of its data,
 * as a full disk does) or the next sync fail.
 */
export class SpoolFilesFake {
  opens = 0;
  closes = 0;
  readonly writes: string[] = [];
  /** Completed syncs. */
  syncs = 0;
  /** Syncs wait for releaseSyncs() while this is set. */
  holdSyncs = false;
  private readonly held: Array<() => void> = [];
  private failWrite?: { error: Error; keep: number };
  private failSync?: Error;

  readonly open: OpenSpoolFile = async (path) => {
    const file = await open(path, 'a');
    this.opens++;
    const fake: SpoolFile = {
      appendFile: async (data) => {
        const fault = this.failWrite;
        this.failWrite = undefined;
        if (fault) {
          if (fault.keep > 0) await file.appendFile(data.slice(0, fault.keep));
          throw fault.error;
        }
        this.writes.push(data);
        await file.appendFile(data);
      },
      datasync: async () => {
        if (this.holdSyncs) await new Promise<void>((resolve) => this.held.push(resolve));
        const fault = this.failSync;
        this.failSync = undefined;
        if (fault) throw fault;
        await file.datasync();
        this.syncs++;
      },
      close: async () => {
        this.closes++;
        await file.close();
      },
    };
    return fake;
  };

  /** The next write writes its first `keep` characters, then fails with `error`. */
  failNextWrite(error: Error, keep = 0): void {
    this.failWrite = { error, keep };
  }

  failNextSync(error: Error): void {
    this.failSync = error;
  }

  /** How many syncs are being held right now. */
  get waiting(): number {
    return this.held.length;
  }

  /** Lets every held sync go on (and stops holding new ones). */
  releaseSyncs(): void {
    this.holdSyncs = false;
    for (const release of this.held.splice(0)) release();
  }
}
