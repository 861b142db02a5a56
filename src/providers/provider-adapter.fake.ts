import { setTimeout as sleep } from 'node:timers/promises';
import { ModelConfig } from '../config/app-config';
import type { StreamEvent } from '../contract/stream-event';
import type { Framing, ProviderAdapter, ProviderStreamRequest } from './provider-adapter';

/** One step of a scripted provider: an event (completionId filled in), a throw, a pause, or a hang. */
type WithoutId<T> = T extends unknown ? Omit<T, 'completionId'> : never;

export type FakeStep =
  WithoutId<StreamEvent> | { throws: unknown } | { sleepMs: number } | { hangUntilAborted: true };

/** A provider adapter that plays a script, for tests of everything above the adapter interface. */
export class ProviderAdapterFake implements ProviderAdapter {
  readonly type = 'simulated' as const;
  readonly framing: Framing = 'none';
  readonly configured = true;
  readonly seen: ProviderStreamRequest[] = [];
  /** Set when the adapter noticed its signal abort. */
  abortObserved = false;
  /** Set when the consumer stopped iterating (return() reached the adapter's finally). */
  closed = false;

  /** Scripts for later calls: call n plays `later[n - 1]`, and the last one again after that. */
  private readonly later: FakeStep[][] = [];

  constructor(
    private readonly script: FakeStep[],
    readonly id = 'fake',
  ) {}

  /** The next call plays `script` instead (for retry tests). */
  andThen(script: FakeStep[]): this {
    this.later.push(script);
    return this;
  }

  checkModel(): string[] {
    return [];
  }

  missingCredentials(): undefined {
    return undefined;
  }

  async *stream(request: ProviderStreamRequest): AsyncGenerator<StreamEvent> {
    this.seen.push(request);
    const { signal, completionId } = request;
    const call = this.seen.length - 1;
    const script =
      call === 0 ? this.script : (this.later[Math.min(call, this.later.length) - 1] ?? this.script);
    try {
      for (const step of script) {
        if ('throws' in step) throw step.throws;
        if ('sleepMs' in step) {
          await sleep(step.sleepMs, undefined, { signal });
          continue;
        }
        if ('hangUntilAborted' in step) {
          await new Promise<never>((_, reject) => {
            const fail = () => {
              this.abortObserved = true;
              reject(signal.reason as Error);
            };
            if (signal.aborted) fail();
            else signal.addEventListener('abort', fail, { once: true });
          });
          continue;
        }
        yield { ...step, completionId };
      }
    } finally {
      this.closed = true;
    }
  }
}

export function fakeModel(id = 'fake/model'): ModelConfig {
  return Object.assign(new ModelConfig(), { id, provider: 'fake', upstream: 'model', options: {} });
}
