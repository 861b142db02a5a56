import { CompletionError } from '../contract/error-code';
import { chatRequestFromQuery } from './chat-query';

describe('chatRequestFromQuery', () => {
  it('reads numbers, booleans, JSON values and include_usage, and forces streaming', () => {
    expect(
      chatRequestFromQuery({
        model: 'simulated/echo',
        messages: '[{"role":"user","content":"hi"}]',
        temperature: '0.3',
        max_tokens: '20',
        parallel_tool_calls: 'false',
        include_usage: 'true',
        stop: 'END',
        tool_choice: 'auto',
        reasoning: '{"effort":"low"}',
        access_token: 'ignored-here',
        _: '1700000000',
      }),
    ).toEqual({
      stream: true,
      model: 'simulated/echo',
      messages: [{ role: 'user', content: 'hi' }],
      temperature: 0.3,
      max_tokens: 20,
      parallel_tool_calls: false,
      stream_options: { include_usage: true },
      stop: 'END',
      tool_choice: 'auto',
      reasoning: { effort: 'low' },
    });
  });

  it('leaves unparseable scalars as text for validation to name', () => {
    expect(
      chatRequestFromQuery({ model: 'm', temperature: 'hot', include_usage: 'maybe', seed: '' }),
    ).toMatchObject({
      temperature: 'hot',
      stream_options: { include_usage: 'maybe' },
      seed: '',
    });
  });

  it.each([
    [{ messages: '[oops' }, 'messages', /URL-encoded JSON \(an array of messages\)/],
    [{ tools: '{' }, 'tools', /URL-encoded JSON/],
    [{ model: ['a', 'b'] }, 'model', /more than once/],
  ])('rejects %p naming %s', (query, param, message) => {
    try {
      chatRequestFromQuery(query);
      throw new Error('expected a rejection');
    } catch (err) {
      expect(err).toBeInstanceOf(CompletionError);
      expect(err).toMatchObject({ param, message: expect.stringMatching(message) });
    }
  });
});
