import type { AppConfig } from '../config/app-config';
import { scrubSecrets } from '../providers/http/upstream-errors';
import type { ChatCompletionRequest } from '../contract/chat-request';
import type { NewDeadLetter } from './dead-letter';

export const REDACTED = '[redacted]';

const SECRET_PARTS = /apikey|secret|passw|token|credential|cookie|authoriz|signature|privatekey|accesskey/;

/** Whether a header or metadata name says its value is a credential (`api_key`, `X-Api-Key`, `authToken`…). */
export function isSecretName(name: string): boolean {
  const plain = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return plain === 'auth' || plain.endsWith('key') || plain.endsWith('keys') || SECRET_PARTS.test(plain);
}

/**
 * The configured secrets a dead letter must never hold: `all` for free text (error messages), `strict` for the
 * request body, where a harmless configured header value (OpenRouter's `X-Title: Circuit Breaker`) must not be
 * cut out of a prompt that is to be replayed.
 */
export interface LetterSecrets {
  all: string[];
  strict: string[];
}

/** Provider keys, provider header values and the JWT secret; shorter than 4 characters they are ignored. */
export function configuredSecrets(config: AppConfig): LetterSecrets {
  const all = new Set<string>();
  const strict = new Set<string>();
  for (const provider of config.providers.values()) {
    if (provider.api_key) {
      all.add(provider.api_key);
      strict.add(provider.api_key);
    }
    for (const [name, value] of Object.entries(provider.headers)) {
      all.add(value);
      if (isSecretName(name)) strict.add(value);
    }
  }
  const jwtSecret = config.auth.jwt.secret;
  if (jwtSecret) {
    all.add(jwtSecret);
    strict.add(jwtSecret);
  }
  const usable = (set: Set<string>) => [...set].filter((s) => s.length >= 4);
  return { all: usable(all), strict: usable(strict) };
}

/**
 * A copy of the letter that is safe to store:
 * - `errorMessage` and every attempt's `message`: configured secrets and key-shaped strings (`sk-…`, `AIza…`,
 *   `Bearer …`) become `[redacted]` (scrubSecrets);
 * - `request.metadata` values and `request.user`: the same, and a metadata entry whose name says it is a
 *   credential (`api_key`, `token`, `authorization`…) loses its whole value;
 * - the rest of the request (messages, tools…): configured provider keys, credential-named provider headers
 *   and the JWT secret, verbatim, become `[redacted]`. Key-shaped text in prompts is left alone: it is the
 *   caller's content and a replay must send it as it was.
 * The caller's own keys (X-Provider-Key) never reach a letter: they travel outside the request.
 */
export function scrubLetter(letter: NewDeadLetter, secrets: LetterSecrets): NewDeadLetter {
  return {
    ...letter,
    request: scrubRequest(letter.request, secrets),
    errorMessage: scrubSecrets(letter.errorMessage, secrets.all),
    attempts: letter.attempts.map((attempt) => ({
      ...attempt,
      message: scrubSecrets(attempt.message, secrets.all),
    })),
    chain: [...letter.chain],
  };
}

function scrubRequest(request: ChatCompletionRequest, secrets: LetterSecrets): ChatCompletionRequest {
  let json = JSON.stringify(request);
  for (const secret of secrets.strict) {
    const encoded = JSON.stringify(secret).slice(1, -1);
    json = json.split(encoded).join(REDACTED);
  }
  const copy = JSON.parse(json) as ChatCompletionRequest;
  if (copy.user !== undefined) copy.user = scrubSecrets(copy.user, secrets.all);
  if (copy.metadata !== undefined) {
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(copy.metadata)) {
      // Values may be anything (validation takes any object): JSON text, as String() of some objects throws.
      const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
      metadata[name] = isSecretName(name) ? REDACTED : scrubSecrets(text, secrets.all);
    }
    copy.metadata = metadata;
  }
  return copy;
}
