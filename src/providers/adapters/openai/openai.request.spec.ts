import type { ChatCompletionRequest } from '../../../contract/chat-request';
import { type OpenAiDialect, toOpenAiBody } from './openai.request';

const OPENAI: OpenAiDialect = {
  maxTokensField: 'max_completion_tokens',
  developerRole: true,
  reasoning: 'effort',
};
const OPENROUTER: OpenAiDialect = {
  maxTokensField: 'max_tokens',
  developerRole: true,
  reasoning: 'openrouter',
};
const GENERIC: OpenAiDialect = { maxTokensField: 'max_tokens', developerRole: false, reasoning: 'effort' };

const request: ChatCompletionRequest = {
  model: 'openai/gpt-4o',
  messages: [
    { role: 'developer', content: 'Be terse.' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      ],
    },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{"x":1}' } }],
    },
    { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
  ],
  tools: [{ type: 'function', function: { name: 'look', parameters: { type: 'object' } } }],
  tool_choice: { type: 'function', function: { name: 'look' } },
  parallel_tool_calls: false,
  stop: ['END'],
  max_tokens: 100,
  temperature: 0.3,
  top_p: 0.9,
  seed: 7,
  user: 'u-1',
  response_format: { type: 'json_object' },
  reasoning_effort: 'low',
  metadata: { team: 'a' },
};

describe('toOpenAiBody', () => {
  it('sends OpenAI the request as is, with the upstream model, usage on streams and max_completion_tokens', () => {
    const body = toOpenAiBody(request, 'gpt-4o-2024-11-20', true, OPENAI);
    expect(body).toEqual({
      model: 'gpt-4o-2024-11-20',
      messages: request.messages,
      stream: true,
      stream_options: { include_usage: true },
      tools: request.tools,
      tool_choice: request.tool_choice,
      parallel_tool_calls: false,
      stop: ['END'],
      max_completion_tokens: 100,
      temperature: 0.3,
      top_p: 0.9,
      seed: 7,
      user: 'u-1',
      response_format: { type: 'json_object' },
      reasoning_effort: 'low',
    });
  });

  it('leaves stream fields out of non-streaming requests and unset fields out entirely', () => {
    const body = toOpenAiBody(
      { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
      'up',
      false,
      OPENAI,
    );
    expect(body).toEqual({ model: 'up', messages: [{ role: 'user', content: 'hi' }] });
  });

  it('gives OpenRouter its reasoning object and max_tokens', () => {
    const body = toOpenAiBody(
      { ...request, reasoning: { max_tokens: 2000 } },
      'anthropic/claude',
      false,
      OPENROUTER,
    );
    expect(body).toMatchObject({ reasoning: { max_tokens: 2000 }, max_tokens: 100 });
    expect(body).not.toHaveProperty('reasoning_effort');
    expect(toOpenAiBody(request, 'x', false, OPENROUTER)).toMatchObject({ reasoning: { effort: 'low' } });
  });

  it('sends developer messages as system to generic servers, and an OpenRouter reasoning switch as effort', () => {
    const body = toOpenAiBody(
      { ...request, reasoning_effort: undefined, reasoning: { enabled: false } },
      'qwen',
      false,
      GENERIC,
    );
    expect((body.messages as Array<{ role: string }>)[0]!.role).toBe('system');
    expect(body).toMatchObject({ max_tokens: 100, reasoning_effort: 'none' });
  });
});
