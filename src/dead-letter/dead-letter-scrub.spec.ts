import { loadConfig } from '../config/config.loader';
import { configuredSecrets, isSecretName, REDACTED, scrubLetter } from './dead-letter-scrub';
import { newLetter } from './testing/dead-letters';

describe('dead-letter scrubbing', () => {
  const config = loadConfig({
    env: {},
    overrides: [
      {
        providers: {
          openai: { api_key: 'sk-configured-openai-key' },
          azure: {
            type: 'openai-compatible',
            base_url: 'http://127.0.0.1:1/v1',
            headers: { 'api-key': 'azure-header-secret', 'X-Title': 'Circuit Breaker' },
          },
        },
        auth: { jwt: { secret: 'jwt-secret-value-0123456789abcdef0123' } },
      },
    ],
  });
  const secrets = configuredSecrets(config);

  it('collects provider keys, header values and the JWT secret; only credential headers for the body', () => {
    expect(secrets.all).toEqual(
      expect.arrayContaining([
        'sk-configured-openai-key',
        'azure-header-secret',
        'Circuit Breaker',
        'jwt-secret-value-0123456789abcdef0123',
      ]),
    );
    expect(secrets.strict).toEqual(
      expect.arrayContaining([
        'sk-configured-openai-key',
        'azure-header-secret',
        'jwt-secret-value-0123456789abcdef0123',
      ]),
    );
    expect(secrets.strict).not.toContain('Circuit Breaker');
  });

  it('scrubs messages, metadata and user; leaves prompts as sent except configured secrets', () => {
    const letter = newLetter(
      { prompt: 'About Circuit Breaker: my key sk-user-typed-this-123 and sk-configured-openai-key' },
      {
        errorMessage: 'openai said: invalid key sk-configured-openai-key (Bearer abcdefghijkl)',
        attempts: [
          {
            provider: 'azure',
            model: 'm',
            code: newLetter().errorKind,
            message: 'bad azure-header-secret',
            startedAt: '',
            endedAt: '',
          },
        ],
      },
    );
    letter.request.user = 'user sk-abcdefgh1234';
    letter.request.metadata = { api_key: 'whatever', trace: 'ok', note: 'AIzaSyA1234567890123456789012345' };
    const scrubbed = scrubLetter(letter, secrets);

    expect(scrubbed.errorMessage).toBe(`openai said: invalid key ${REDACTED} (${REDACTED})`);
    expect(scrubbed.attempts[0]!.message).toBe(`bad ${REDACTED}`);
    expect(scrubbed.request.messages[0]!.content).toBe(
      `About Circuit Breaker: my key sk-user-typed-this-123 and ${REDACTED}`,
    );
    expect(scrubbed.request.user).toBe(`user ${REDACTED}`);
    expect(scrubbed.request.metadata).toEqual({ api_key: REDACTED, trace: 'ok', note: REDACTED });
    expect(JSON.stringify(scrubbed)).not.toMatch(/sk-configured|azure-header-secret|sk-abcdefgh/);
    // The caller's letter is left as it was.
    expect(letter.request.metadata.api_key).toBe('whatever');
  });

  it('keeps a letter whose metadata holds non-string values (validation takes any object), as JSON text', () => {
    // String() of a JSON object with a non-function toString key threw, and the letter was never recorded.
    const letter = newLetter();
    letter.request.metadata = JSON.parse(
      '{"odd":{"toString":1},"n":5,"nested":{"key":"sk-configured-openai-key"}}',
    ) as Record<string, string>;
    const scrubbed = scrubLetter(letter, secrets);
    expect(scrubbed.request.metadata).toEqual({
      odd: '{"toString":1}',
      n: '5',
      nested: `{"key":"${REDACTED}"}`,
    });
  });

  it.each([
    ['api_key', true],
    ['X-Api-Key', true],
    ['authorization', true],
    ['authToken', true],
    ['client_secret', true],
    ['HTTP-Referer', false],
    ['X-Title', false],
    ['trace_id', false],
  ])('%s is a credential name: %s', (name, secret) => {
    expect(isSecretName(name)).toBe(secret);
  });
});
