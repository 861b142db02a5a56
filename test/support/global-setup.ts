import { spawnSync } from 'node:child_process';
import { redisAnswers as answers } from './redis';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisAnswers = () => answers(REDIS_URL);

/** The e2e tests use a real Redis: start a throwaway one when none answers and redis-server is installed. */
export default async function globalSetup(): Promise<void> {
  if (await redisAnswers()) return;
  const started = spawnSync('redis-server', [
    '--daemonize',
    'yes',
    '--port',
    '6379',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  for (let i = 0; i < 50 && !(await redisAnswers()); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await redisAnswers())) {
    throw new Error(
      `The e2e tests need Redis at ${REDIS_URL} and none answers (redis-server: ${started.error?.message ?? 'did not start'}). ` +
        'Install redis-server (apt-get install redis-server) or set REDIS_URL.',
    );
  }
}
