import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { CompletionError, StreamErrorCode } from '../contract/error-code';

type Phase = 'serving' | 'draining' | 'refusing';

/**
 * Where this node is in its life: serving, draining (readiness fails so load balancers stop sending, work still
 * accepted), refusing (new work gets 503; in-flight streams finish or are ended).
 */
@Injectable()
export class LifecycleService implements BeforeApplicationShutdown {
  private phase: Phase = 'serving';
  private drainStarted = 0;
  private drain?: (signal?: string) => Promise<void>;

  /**
   * The drain of in-flight work (streaming's DrainService) registers here. LifecycleModule is global, and Nest
   * runs global modules' shutdown hooks first, so the drain runs before any other module's hook: before
   * Terminus marks every health check `shutting_down` (which would fail liveness mid-drain), before the
   * GraphQL and workflow servers stop. It does not depend on where modules sit in the import graph.
   */
  setDrain(drain: (signal?: string) => Promise<void>): void {
    this.drain = drain;
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    console.error("LIFECYCLE before shutdown", !!this.drain, new Error().stack?.split("\n").slice(2,4).join("|"));
    await this.drain?.(signal);
  }

  /** Epoch ms when the drain began (0 while serving). */
  get drainStartedAt(): number {
    return this.drainStarted;
  }

  get ready(): boolean {
    return this.phase === 'serving';
  }

  get acceptingWork(): boolean {
    return this.phase !== 'refusing';
  }

  get current(): Phase {
    return this.phase;
  }

  /** Throws a retryable service_unavailable once new work is refused (the node is shutting down). */
  assertAcceptingWork(): void {
    if (this.acceptingWork) return;
    throw new CompletionError(
      StreamErrorCode.ServiceUnavailable,
      'This instance is shutting down; retry the request.',
      {
        retryable: true,
        retryAfterMs: 1_000,
      },
    );
  }

  beginDrain(): void {
    if (this.phase !== 'serving') return;
    this.phase = 'draining';
    this.drainStarted = Date.now();
  }

  refuseNewWork(): void {
    this.phase = 'refusing';
  }
}
