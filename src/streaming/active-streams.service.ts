import { Injectable } from '@nestjs/common';
import type { Protocol } from '../analytics/metrics.service';

interface ActiveStream {
  controller: AbortController;
  protocol: Protocol;
}

/** Every completion in flight on this node, so shutdown can wait for them or end them with an error. */
@Injectable()
export class ActiveStreams {
  private readonly streams = new Map<string, ActiveStream>();
  private idleWaiters: Array<() => void> = [];

  add(completionId: string, controller: AbortController, protocol: Protocol): void {
    this.streams.set(completionId, { controller, protocol });
  }

  remove(completionId: string): void {
    this.streams.delete(completionId);
    if (this.streams.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  get size(): number {
    return this.streams.size;
  }

  /** Aborts every stream with `reason`; each ends with an error event built from it. */
  abortAll(reason: unknown): void {
    for (const { controller } of this.streams.values()) controller.abort(reason);
  }

  /** True once no stream is left, false if `timeoutMs` passes first. */
  waitForIdle(timeoutMs: number): Promise<boolean> {
    if (this.streams.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(done);
    });
  }
}
