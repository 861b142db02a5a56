import { Injectable } from '@nestjs/common';
import { MetricsService } from '../analytics/metrics.service';
import { AuthService } from '../auth/auth.service';
import type { Principal } from '../contract/principal';
import { AppConfig } from '../config/app-config';
import { GraphqlErrorCode, graphqlError } from './graphql-errors';

/**
 * What the gate bounds: a subscription source it can end with an error (timeout, shutdown) and hear end. A bus
 * subscription (system, workflow and agent events) is one; so is a completion's hub follower
 * (CompletionSubscription).
 */
export interface GatedSubscription {
  /** Ends it with `error` for its reader, even while the reader waits for an event. */
  fail(error: Error): void;
  /** Runs `listener` once it has ended, whatever the way (at once if it has). */
  whenClosed(listener: () => void): void;
}

/**
 * Every GraphQL subscription passes here: at most `protocols.graphql.max_subscriptions` live at once on this
 * node (TOO_MANY_SUBSCRIPTIONS past it), each ended with SUBSCRIPTION_TIMEOUT after `subscription_timeout`,
 * and a bus subscriber too slow to read its events ends with SLOW_CONSUMER (a completion's hub follower never
 * does: a slow reader only reads behind). A slot is freed however the subscription ends (its last event, the
 * client's complete, a disconnect, an error).
 */
@Injectable()
export class SubscriptionGate {
  private active = 0;
  private readonly live = new Set<GatedSubscription>();
  private readonly max: number;
  private readonly timeoutMs: number;

  constructor(
    config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly auth: AuthService,
  ) {
    this.max = config.streaming.protocols.graphql.max_subscriptions;
    this.timeoutMs = config.streaming.protocols.graphql.subscription_timeout;
  }

  /** Opens a subscription for `viewer`, holding one of their concurrent-stream slots while it lives. */
  async open<S extends GatedSubscription>(
    viewer: Principal,
    create: (overflow: () => Error) => Promise<S>,
  ): Promise<S> {
    if (this.active >= this.max) {
      this.metrics.graphqlSubscriptionsRefused.labels('too_many').inc();
      throw graphqlError(
        GraphqlErrorCode.TooManySubscriptions,
        `This node serves at most ${this.max} subscriptions at once; retry later.`,
        { retryable: true },
      );
    }
    // The place is taken before anything is awaited, so subscriptions arriving at once cannot all pass.
    this.active += 1;
    this.metrics.graphqlSubscriptions.inc();
    let release: () => void = () => undefined;
    let subscription: S;
    try {
      release = await this.auth.acquireStream(viewer, 'graphql');
      subscription = await create(() => {
        this.metrics.graphqlSubscriptionsRefused.labels('slow_consumer').inc();
        return slowConsumer();
      });
    } catch (err) {
      release();
      this.active -= 1;
      this.metrics.graphqlSubscriptions.dec();
      throw err;
    }
    const timer = setTimeout(() => {
      this.metrics.graphqlSubscriptionsRefused.labels('timeout').inc();
      subscription.fail(
        graphqlError(
          GraphqlErrorCode.SubscriptionTimeout,
          `The subscription reached its time limit (${this.timeoutMs} ms); subscribe again to go on.`,
          { retryable: true },
        ),
      );
    }, this.timeoutMs);
    timer.unref();
    this.live.add(subscription);
    subscription.whenClosed(() => {
      this.live.delete(subscription);
      clearTimeout(timer);
      release();
      this.active -= 1;
      this.metrics.graphqlSubscriptions.dec();
    });
    return subscription;
  }

  /**
   * Shutdown: every live subscription ends with a retryable error (resume elsewhere with afterSequence).
   * Resolves once each has been read to its end (its error handed to the transport).
   */
  endAll(): Promise<void> {
    const error = graphqlError(
      'SERVICE_UNAVAILABLE',
      'This node is shutting down; subscribe again (on another node) with afterSequence to go on.',
      { retryable: true },
    );
    const ended = [...this.live].map((subscription) => {
      const closed = new Promise<void>((resolve) => subscription.whenClosed(resolve));
      subscription.fail(error);
      return closed;
    });
    return Promise.all(ended).then(() => undefined);
  }

  /** Live subscriptions on this node. */
  get size(): number {
    return this.active;
  }
}

/** `afterSequence` as the bus takes it: absent or 0 replays everything; a negative one is refused. */
export function afterOf(afterSequence: number | null | undefined): { after?: number } {
  if (afterSequence === undefined || afterSequence === null) return {};
  if (afterSequence < 0) {
    throw graphqlError(GraphqlErrorCode.BadUserInput, 'afterSequence must be 0 or more.', {
      param: 'afterSequence',
    });
  }
  return { after: afterSequence };
}

function slowConsumer(): Error {
  return graphqlError(
    GraphqlErrorCode.SlowConsumer,
    'The subscriber fell too far behind its events and was ended; subscribe again with afterSequence.',
    { retryable: true },
  );
}
