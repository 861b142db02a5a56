import { randomUUID } from 'node:crypto';
import { StreamErrorCode } from '../../contract/error-code';
import type { DeadLetter, DeadLetterAttempt, NewDeadLetter } from '../dead-letter';

export interface LetterSpec {
  /** The last user message (the simulated echo model answers with it). */
  prompt?: string;
  model?: string;
  kind?: StreamErrorCode;
  /** Providers of the attempts, in order. */
  providers?: string[];
  failedAt?: string;
}

/** A dead letter as the completion path would report it. */
export function newLetter(spec: LetterSpec = {}, overrides: Partial<NewDeadLetter> = {}): NewDeadLetter {
  const model = spec.model ?? 'simulated/echo';
  const kind = spec.kind ?? StreamErrorCode.ProviderError;
  const failedAt = spec.failedAt ?? new Date().toISOString();
  const attempts: DeadLetterAttempt[] = (spec.providers ?? ['simulated']).map((provider) => ({
    provider,
    model,
    code: kind,
    message: `${provider} failed`,
    startedAt: failedAt,
    endedAt: failedAt,
  }));
  return {
    request: { model, messages: [{ role: 'user', content: spec.prompt ?? 'hello' }] },
    requestId: randomUUID(),
    completionId: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    protocol: 'http',
    errorKind: kind,
    errorMessage: `all providers failed: ${kind}`,
    attempts,
    chain: [model],
    byok: false,
    receivedAt: failedAt,
    failedAt,
    ...overrides,
  };
}

/** A stored letter (with an id and no replays). */
export function storedLetter(spec: LetterSpec = {}, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return { ...newLetter(spec), id: `dl-${randomUUID().replaceAll('-', '')}`, replays: [], ...overrides };
}
