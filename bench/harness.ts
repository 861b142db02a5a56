/** What the bench scripts share: their server processes and the back-to-back pairs they compare. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { LoadResult } from './load';

export const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

export type Row = [string, LoadResult, LoadResult];

export interface Child {
  url: string;
  /** The server's process id (its CPU time is read from /proc). */
  pid: number;
  close(): void;
}

const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((child) => child.kill()));

/**
 * Starts a bench/servers.ts kind in its own process and waits for its URL. `root` is the checkout whose
 * servers run (another worktree, to compare a base commit in the same session); this one by default.
 */
export function spawnServer(
  kind: string,
  env: Record<string, string> = {},
  root: string = join(__dirname, '..'),
): Promise<Child> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join(root, 'bench', 'servers.ts'), kind],
    { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.add(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\S+)/.exec(out);
      if (match) resolve({ url: match[1]!, pid: child.pid ?? 0, close: () => child.kill() });
    });
    child.on('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
}

/** Direct calls and router calls, warm-up discarded, then measured back to back. */
export async function pair(
  name: string,
  direct: () => Promise<LoadResult>,
  router: () => Promise<LoadResult>,
): Promise<Row> {
  await direct();
  await router();
  return [name, await direct(), await router()];
}
