/**
 * Dead letters into the local spool, as they go while Redis is down: how many letters per second become
 * durable (an append resolves only once its line is fdatasynced), for 1 to 256 concurrent writers (completions
 * failing at once). Each row runs the same letters two ways, back to back on the same disk:
 *   - per letter: what the spool did before group commit, serialized open, append, fdatasync, close per line;
 *   - DeadLetterSpool: group commit, one append and one fdatasync for all the lines queued meanwhile.
 *   node -r ts-node/register/transpile-only bench/dead-letter-spool.ts
 * Options: SPOOL_BENCH_LETTERS (default 2000), SPOOL_BENCH_DIR (default the OS temp dir; point it at the disk
 * the spool lives on in production: fsync costs differ a lot between disks, and on a shared disk from run to run).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeadLetter } from '../src/dead-letter/dead-letter';
import { DeadLetterSpool } from '../src/dead-letter/dead-letter-spool';
import { storedLetter } from '../src/dead-letter/testing/dead-letters';

const LETTERS = Number(process.env.SPOOL_BENCH_LETTERS ?? 2000);
const DIR = process.env.SPOOL_BENCH_DIR ?? tmpdir();

interface Writer {
  append(letter: DeadLetter): Promise<void>;
  close(): Promise<void>;
  syncs(): number;
}

/** One fsync per letter, serialized by a lock: the spool before group commit. */
function perLetter(path: string): Writer {
  let lock: Promise<unknown> = Promise.resolve();
  let syncs = 0;
  return {
    append(letter) {
      const line = `${JSON.stringify(letter)}\n`;
      const run = lock.then(async () => {
        const file = await open(path, 'a');
        try {
          await file.appendFile(line);
          await file.datasync();
          syncs++;
        } finally {
          await file.close();
        }
      });
      lock = run.catch(() => undefined);
      return run;
    },
    close: () => Promise.resolve(),
    syncs: () => syncs,
  };
}

function groupCommit(path: string): Writer {
  const spool = new DeadLetterSpool(path);
  return {
    append: (letter) => spool.append(letter),
    close: () => spool.close(),
    syncs: () => spool.commits,
  };
}

async function run(
  make: (path: string) => Writer,
  letters: DeadLetter[],
  concurrency: number,
): Promise<{ perSecond: number; syncs: number }> {
  const dir = mkdtempSync(join(DIR, 'cb-spool-bench-'));
  const writer = make(join(dir, 'dl.spool.ndjson'));
  try {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < letters.length) await writer.append(letters[next++]!);
      }),
    );
    return { perSecond: letters.length / ((performance.now() - started) / 1000), syncs: writer.syncs() };
  } finally {
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const letters = Array.from({ length: LETTERS }, () => storedLetter({ prompt: 'x'.repeat(400) }));
  const size = Buffer.byteLength(JSON.stringify(letters[0]));
  console.log(`dead letters into the spool: ${LETTERS} letters of ${size} bytes in ${DIR}`);
  console.log('writers   per letter (letters/s, fdatasyncs)   group commit (letters/s, fdatasyncs)');
  for (const concurrency of [1, 16, 64, 256]) {
    const before = await run(perLetter, letters, concurrency);
    const after = await run(groupCommit, letters, concurrency);
    const cell = (r: { perSecond: number; syncs: number }) =>
      `${r.perSecond.toFixed(0).padStart(8)}  ${String(r.syncs).padStart(6)}`;
    console.log(
      `${String(concurrency).padStart(7)}   ${cell(before)}${' '.repeat(22)}${cell(after)}   x${(after.perSecond / before.perSecond).toFixed(1)}`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
