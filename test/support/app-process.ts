import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The real service (src/main.ts under ts-node) as a child process, for tests that kill or signal it. */
export interface AppProcess {
  /** http://127.0.0.1:<port> */
  url: string;
  child: ChildProcess;
  /** What the service logged up to and including its "listening" line (JSON lines). */
  bootLog: string;
  /** Everything it logged so far (with `keepLogs`; otherwise the boot log only). */
  logs(): string;
  /** Resolves when the process has exited (with its code or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const LISTENING = /"url":"(http:\/\/[^"]+)".*"msg":"Circuit Breaker is listening"/;

/**
 * Starts the service with `env` over this process's environment (on a free port of loopback, logging at info
 * to a pipe that is read and dropped) and resolves once it listens. The caller ends it.
 */
export async function startAppProcess(
  env: NodeJS.ProcessEnv,
  options: { keepLogs?: boolean } = {},
): Promise<AppProcess> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join(__dirname, '..', '..', 'src', 'main.ts')],
    {
      // One process unless the test asks for a cluster (streaming.performance.worker_threads 0 = one per CPU).
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        CB__STREAMING__PERFORMANCE__WORKER_THREADS: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 20_000) stderr += chunk.toString();
  });
  let head = '';
  const url = await new Promise<string>((resolve, reject) => {
    let found = false;
    child.stdout.on('data', (chunk: Buffer) => {
      // Later logs are read (so the pipe never fills) and dropped, unless kept.
      if (found && !options.keepLogs) return;
      head += chunk.toString();
      if (found) return;
      const match = LISTENING.exec(head);
      if (match) {
        found = true;
        resolve(match[1]!.replace('[::1]', '127.0.0.1'));
      }
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`the service exited (${code ?? signal}) before listening:\n${head}\n${stderr}`)),
    );
  });
  return { url, child, exited, bootLog: head, logs: () => head };
}
