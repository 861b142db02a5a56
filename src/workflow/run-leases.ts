import type Redis from 'ioredis';
import { redisUnavailable } from '../redis/redis-unavailable';

/**
 * Who executes which run: each running run has a lease key (`workflows:lease:<runId>`, the node's id) that its
 * node refreshes, and is listed in `workflows:running`. A run listed without a lease belongs to a node that
 * stopped without ending it (a crash, a kill): any node may then claim it, once, and end it.
 */
export class RunLeases {
  private readonly running: string;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    this.running = `${prefix}workflows:running`;
  }

  /** Takes the lease of a new run (before its state says running). Throws service_unavailable. */
  async take(runId: string, node: string): Promise<void> {
    try {
      await this.redis
        .multi()
        .set(this.lease(runId), node, 'PX', this.ttlMs)
        .sadd(this.running, runId)
        .exec();
    } catch (err) {
      throw redisUnavailable(err);
    }
  }

  /** The run ended (or was claimed): forget it. Never throws. */
  release(runId: string): void {
    this.redis
      .multi()
      .del(this.lease(runId))
      .srem(this.running, runId)
      .exec()
      .catch(() => undefined);
  }

  /** Extends this node's leases; returns the runs whose lease had already expired (lost to a claim). */
  async refresh(runIds: string[]): Promise<string[]> {
    if (runIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const runId of runIds) pipeline.pexpire(this.lease(runId), this.ttlMs);
    const results = (await pipeline.exec()) ?? [];
    return runIds.filter((_, i) => results[i]?.[0] === null && results[i]?.[1] === 0);
  }

  /**
   * Runs listed as running whose lease has expired, other than `local`, each claimed for this node (so one
   * node ends each).
   */
  async orphans(local: ReadonlySet<string> | ReadonlyMap<string, unknown>): Promise<string[]> {
    const listed = (await this.redis.smembers(this.running)).filter((runId) => !local.has(runId));
    if (listed.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const runId of listed) pipeline.exists(this.lease(runId));
    const leased = (await pipeline.exec()) ?? [];
    const claimed: string[] = [];
    for (const [i, runId] of listed.entries()) {
      if (leased[i]?.[1] !== 0) continue;
      const claim = await this.redis.set(
        `${this.prefix}workflows:claim:${runId}`,
        '1',
        'PX',
        this.ttlMs,
        'NX',
      );
      if (claim === 'OK') claimed.push(runId);
    }
    return claimed;
  }

  private lease(runId: string): string {
    return `${this.prefix}workflows:lease:${runId}`;
  }
}
