import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of one test run's own, e.g. `cbtest:3f9a0c1d:`. */
export function testPrefix(name = 'cbtest'): string {
  return `${name}:${randomBytes(4).toString('hex')}:`;
}

/** A plain connection to the test Redis; the caller disconnects it. */
export function redisClient(url = REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1 });
}

/** Deletes every key under `prefix` (SCAN + DEL); resolves to how many there were. */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const client = redisClient(url);
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await client.del(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    client.disconnect();
  }
}
