import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { freePort } from '../../src/common/testing/free-port';
import Redis from 'ioredis';
import { waitFor } from './wait';

/** Whether a Redis answers PING at `url` (no retries, no offline queue: a quick yes or no). */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export function hasRedisServer(): boolean {
  const probe = spawnSync('redis-server', ['--version']);
  return probe.error === undefined && probe.status === 0;
}

/**
 * A throwaway redis-server child process on its own port (not the shared Redis), with no persistence: tests
 * stop and start it to take Redis away from the app and give it back (empty).
 */
export class RedisServerProcess {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(await freePort());
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await waitFor(`redis-server on port ${this.port}`, () => this.answers(), 10_000);
  }

  /** Kills the server (SIGKILL: no goodbye to clients) and waits until it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  answers(): Promise<boolean> {
    return redisAnswers(this.url);
  }
}

export { freePort };
