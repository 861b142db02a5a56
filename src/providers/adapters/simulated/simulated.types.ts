import { StreamErrorCode } from '../../../contract/error-code';
import type { FinishReason } from '../../../contract/stream-event';

export const SIMULATED_BEHAVIOURS = ['echo', 'lorem'] as const;
export type SimulatedBehaviour = (typeof SIMULATED_BEHAVIOURS)[number];

/** Per-model knobs (`models[].options` in config). */
export interface SimulatedModelOptions {
  /** Overrides the provider's tokens_per_second; 0 = as fast as possible. */
  tokens_per_second?: number;
  /** Overrides the provider's first_token_delay (ms). */
  first_token_delay?: number;
  /** lorem: words to write when the request sets no max tokens. */
  length?: number;
  /** Fault injection: fail after this many chunks (0 = before the first token). */
  fail_after_chunks?: number;
  /** Fault injection: the error kind to fail with (default connection_lost). */
  fail_with?: StreamErrorCode;
}

export interface SimulatedToolCall {
  id: string;
  name: string;
  /** The JSON arguments, in the fragments they are streamed in. */
  argumentFragments: string[];
}

/** Everything one simulated generation will emit, decided up front (deterministic for a request). */
export interface SimulatedPlan {
  thinking: string[];
  content: string[];
  toolCall?: SimulatedToolCall;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  reasoningTokens: number;
}

export const STREAM_ERROR_CODES = Object.values(StreamErrorCode);
