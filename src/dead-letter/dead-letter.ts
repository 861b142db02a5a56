import type { Protocol } from '../analytics/metrics.service';
import type { StreamErrorCode } from '../contract/error-code';
import type { ChatCompletionRequest } from '../contract/chat-request';

/** One provider attempt of a failed completion. */
export interface DeadLetterAttempt {
  provider: string;
  model: string;
  code: StreamErrorCode;
  message: string;
  startedAt: string;
  endedAt: string;
}

/** A completion that failed on every provider, as the completion path reports it. */
export interface NewDeadLetter {
  /** The request as received (the caller's provider keys are never part of it). */
  request: ChatCompletionRequest;
  requestId: string;
  completionId: string;
  protocol: Protocol;
  errorKind: StreamErrorCode;
  errorMessage: string;
  /** Every provider attempt, in order. */
  attempts: DeadLetterAttempt[];
  /** The model ids the route planned, in order. */
  chain: string[];
  /** The caller brought its own key (a replay uses the configured keys). */
  byok: boolean;
  /** ISO 8601. */
  receivedAt: string;
  /** ISO 8601. */
  failedAt: string;
}

/** What one replay of a dead letter gave. */
export interface ReplayOutcome {
  /** ISO 8601, when the replay ended. */
  at: string;
  status: 'succeeded' | 'failed';
  completionId?: string;
  provider?: string;
  model?: string;
  error?: { code: string; message: string };
}

/** A stored dead letter. */
export interface DeadLetter extends NewDeadLetter {
  /** `dl-<32 hex>`; also its BullMQ job id. */
  id: string;
  /** Replays so far, oldest first (the last MAX_REPLAYS_KEPT). */
  replays: ReplayOutcome[];
}

export const DEAD_LETTER_ID = /^dl-[0-9a-f]{32}$/;

/** Replay outcomes kept on a letter; older ones are dropped. */
export const MAX_REPLAYS_KEPT = 20;

export function isDeadLetterId(id: string): boolean {
  return DEAD_LETTER_ID.test(id);
}
