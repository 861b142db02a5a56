import { Pool } from 'undici';

export interface PoolOptions {
  connectTimeout: number;
}

/**
 * One undici connection pool per upstream origin (scheme + host + port), shared by every provider instance
 * that talks to it, with keep-alive and at most `size` connections. The first provider to use an origin sets
 * its connect timeout.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  constructor(private readonly size: number) {}

  get(origin: string, options: PoolOptions): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      if (this.closed) throw new Error('upstream pools are closed');
      pool = new Pool(origin, {
        connections: this.size,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: options.connectTimeout },
        // Per-request timeouts are set on each request; these are only the fallbacks.
        headersTimeout: 300_000,
        bodyTimeout: 300_000,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  origins(): string[] {
    return [...this.pools.keys()];
  }

  /** Closes every pool: idle sockets at once, busy ones are destroyed (streams are drained before this). */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((pool) => pool.destroy()));
  }
}
