import { Injectable } from '@nestjs/common';
import { CompletionError, StreamErrorCode } from '../contract/error-code';

type Phase = 'serving' | 'draining' | 'refusing';

/**
 * Where this node is in its life: serving, draining (readiness fails so load balancers stop sending, work still
 * accepted), refusing (new work gets 503; in-flight streams finish or are ended).
 */
@Injectable()
export class LifecycleService {
  private phase: Phase = 'serving';
  private drainStarted = 0;

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
