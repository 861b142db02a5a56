import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import { StreamErrorCode } from '../../../contract/error-code';
import type { ModelConfig, ProviderConfig } from '../../../config/app-config';
import { parseDuration } from '../../../config/units';
import type { StreamEvent } from '../../../contract/stream-event';
import type { Framing, ProviderAdapter, ProviderStreamRequest } from '../../provider-adapter';
import { ProviderError } from '../../provider.error';
import { planGeneration } from './simulated.plan';
import {
  SIMULATED_BEHAVIOURS,
  STREAM_ERROR_CODES,
  type SimulatedBehaviour,
  type SimulatedModelOptions,
} from './simulated.types';

/** Let I/O run every so many tokens when streaming with no delay, so one long stream cannot starve the loop. */
const TOKENS_PER_YIELD = 32;
const RETRYABLE = new Set<StreamErrorCode>([
  StreamErrorCode.ConnectionLost,
  StreamErrorCode.ProviderTimeout,
  StreamErrorCode.RateLimitExceeded,
  StreamErrorCode.ServiceUnavailable,
]);

/** What the simulated provider has observed; tests and the debugger read it. */
export interface SimulatedStats {
  started: number;
  completed: number;
  aborted: number;
  failed: number;
  active: number;
  /** Tokens emitted by generations that were aborted (shows how promptly an abort stopped them). */
  tokensBeforeAbort: number;
  /** Tokens handed to consumers so far, all generations (stalls when a consumer applies backpressure). */
  tokens: number;
}

/**
 * A provider that needs no key and no network: `echo` streams the last user message back, `lorem` writes
 * deterministic placeholder text; both can think and call tools, at a configurable speed, and can be told
 * to fail (fault injection) so every event type and error path can be exercised offline.
 */
export class SimulatedAdapter implements ProviderAdapter {
  readonly type = 'simulated' as const;
  readonly framing: Framing = 'none';
  /** Needs no key and no network. */
  readonly configured = true;
  readonly stats: SimulatedStats = {
    started: 0,
    completed: 0,
    aborted: 0,
    failed: 0,
    active: 0,
    tokensBeforeAbort: 0,
    tokens: 0,
  };

  constructor(
    readonly id: string,
    private readonly config: ProviderConfig,
  ) {}

  missingCredentials(): undefined {
    return undefined;
  }

  checkModel(model: ModelConfig): string[] {
    const problems: string[] = [];
    if (!(SIMULATED_BEHAVIOURS as readonly string[]).includes(model.upstream)) {
      problems.push(
        `upstream: unknown simulated model "${model.upstream}" (use ${SIMULATED_BEHAVIOURS.join(' or ')})`,
      );
    }
    const known = ['tokens_per_second', 'first_token_delay', 'length', 'fail_after_chunks', 'fail_with'];
    const o = model.options;
    for (const key of Object.keys(o))
      if (!known.includes(key)) problems.push(`options.${key}: unknown option`);
    for (const key of ['tokens_per_second', 'length', 'fail_after_chunks'] as const) {
      const value = o[key];
      if (value !== undefined && (typeof value !== 'number' || value < 0 || !Number.isFinite(value))) {
        problems.push(`options.${key}: must be a number >= 0`);
      }
    }
    if (o.first_token_delay !== undefined && parseDuration(o.first_token_delay) === undefined) {
      problems.push('options.first_token_delay: must be a duration like "100ms"');
    }
    if (o.fail_with !== undefined && !(STREAM_ERROR_CODES as unknown[]).includes(o.fail_with)) {
      problems.push(`options.fail_with: must be one of ${STREAM_ERROR_CODES.join(', ')}`);
    }
    return problems;
  }

  async *stream({ completionId, model, body, signal }: ProviderStreamRequest): AsyncGenerator<StreamEvent> {
    const options = this.optionsOf(model);
    const plan = planGeneration({
      behaviour: model.upstream as SimulatedBehaviour,
      request: body,
      completionId,
      loremWords: options.length,
    });
    const tokensPerSecond = options.tokens_per_second ?? this.config.tokens_per_second;
    const interval = tokensPerSecond > 0 ? 1000 / tokensPerSecond : 0;
    const firstDelay = options.first_token_delay ?? this.config.first_token_delay;
    const failAfter = options.fail_after_chunks;

    this.stats.started++;
    this.stats.active++;
    let emitted = 0;
    let outcome: 'completed' | 'aborted' | 'failed' = 'failed';
    try {
      if (firstDelay > 0) await sleep(firstDelay, undefined, { signal });
      const start = performance.now();
      for (const event of this.events(plan, completionId)) {
        if (failAfter !== undefined && emitted === failAfter && event.type !== 'completed') {
          const code = options.fail_with ?? StreamErrorCode.ConnectionLost;
          throw new ProviderError(code, `simulated ${code} after ${emitted} chunks`, this.id, {
            retryable: RETRYABLE.has(code),
          });
        }
        if (signal.aborted) throw signal.reason;
        if (event.type !== 'completed') {
          // Token i is due at start + i * interval; when behind schedule, catch up without sleeping.
          const due = start + emitted * interval - performance.now();
          if (due >= 1) await sleep(due, undefined, { signal });
          else if (interval === 0 && emitted % TOKENS_PER_YIELD === TOKENS_PER_YIELD - 1) await yieldToIo();
          emitted++;
          this.stats.tokens++;
        } else {
          // The consumer may stop iterating once it has the terminal event; count the outcome first.
          outcome = 'completed';
        }
        yield event;
      }
    } catch (err) {
      outcome = signal.aborted ? 'aborted' : 'failed';
      throw err;
    } finally {
      this.stats.active--;
      this.stats[outcome]++;
      if (outcome === 'aborted') this.stats.tokensBeforeAbort += emitted;
    }
  }

  private *events(plan: ReturnType<typeof planGeneration>, completionId: string): Generator<StreamEvent> {
    for (const content of plan.thinking) yield { type: 'thinking', completionId, content };
    for (const content of plan.content) yield { type: 'content_chunk', completionId, content, index: 0 };
    const call = plan.toolCall;
    if (call) {
      for (const argumentsDelta of call.argumentFragments) {
        yield {
          type: 'tool_call',
          completionId,
          index: 0,
          toolCallId: call.id,
          name: call.name,
          argumentsDelta,
        };
      }
    }
    yield {
      type: 'completed',
      completionId,
      finishReason: plan.finishReason,
      usage: {
        promptTokens: plan.promptTokens,
        completionTokens: plan.completionTokens,
        totalTokens: plan.promptTokens + plan.completionTokens,
        reasoningTokens: plan.reasoningTokens,
      },
    };
  }

  private optionsOf(model: ModelConfig): SimulatedModelOptions & { first_token_delay?: number } {
    const o = model.options as SimulatedModelOptions & { first_token_delay?: unknown };
    return {
      ...o,
      first_token_delay: o.first_token_delay === undefined ? undefined : parseDuration(o.first_token_delay),
    };
  }
}
