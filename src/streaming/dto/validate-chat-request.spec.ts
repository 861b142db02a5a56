import { CompletionError, RequestErrorCode } from '../../contract/error-code';
import { validateChatRequest } from './validate-chat-request';

const base = { model: 'simulated/echo', messages: [{ role: 'user', content: 'hi' }] };

function rejection(input: unknown): { code: string; param?: string; message: string } {
  try {
    validateChatRequest(input);
  } catch (err) {
    if (err instanceof CompletionError) return { code: err.code, param: err.param, message: err.message };
    throw err;
  }
  throw new Error('expected the request to be rejected');
}

describe('validateChatRequest', () => {
  it('accepts a full OpenAI request and keeps its values', () => {
    const dto = validateChatRequest({
      ...base,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'developer', content: [{ type: 'text', text: 'dev' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'look' },
            { type: 'image_url', image_url: { url: 'x' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', content: '42', tool_call_id: 'call_1' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.5,
      top_p: 1,
      max_tokens: 10,
      stop: ['\n'],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      n: 1,
      seed: 7,
      reasoning: { effort: 'high' },
      logit_bias: { '50256': -100 },
    });
    expect(dto.messages).toHaveLength(5);
    expect(dto.stream_options?.include_usage).toBe(true);
    expect(dto.tools?.[0]?.function.name).toBe('get_weather');
  });

  it.each([
    ['a non-object body', [1, 2], undefined, /JSON object/],
    ['a missing model', { messages: base.messages }, 'model', /model/],
    ['a mistyped model', { ...base, model: 42 }, 'model', /string/],
    ['missing messages', { model: 'm' }, 'messages', /at least one|array/],
    ['empty messages', { ...base, messages: [] }, 'messages', /at least one message/],
    ['messages not an array', { ...base, messages: 'hi' }, 'messages', /array/],
    ['a message that is not an object', { ...base, messages: ['hi'] }, 'messages[0]', /object/],
    ['a message that is an array', { ...base, messages: [[[]]] }, 'messages[0]', /object/],
    [
      'a tool call that is an array',
      { ...base, messages: [{ role: 'assistant', content: null, tool_calls: [[]] }] },
      'messages[0].tool_calls[0]',
      /object/,
    ],
    ['a tool that is an array', { ...base, tools: [[[]]] }, 'tools[0]', /object/],
    ['a model id with CR/LF', { ...base, model: 'openai/gpt\r\nx-evil: 1' }, 'model', /visible ASCII/],
    ['a fallback model id with a space', { ...base, models: ['a b'] }, 'models[0]', /visible ASCII/],
    [
      'an unknown role',
      { ...base, messages: [{ role: 'robot', content: 'x' }] },
      'messages[0].role',
      /role must be/,
    ],
    ['user content missing', { ...base, messages: [{ role: 'user' }] }, 'messages[0].content', /required/],
    [
      'content of a wrong type',
      { ...base, messages: [{ role: 'user', content: 5 }] },
      'messages[0].content',
      /string or an array/,
    ],
    [
      'an unknown part type',
      { ...base, messages: [{ role: 'user', content: [{ type: 'video' }] }] },
      'messages[0].content',
      /unknown content part type "video"/,
    ],
    [
      'a tool message without tool_call_id',
      { ...base, messages: [{ role: 'tool', content: 'x' }] },
      'messages[0].tool_call_id',
      /required/,
    ],
    ['temperature out of range', { ...base, temperature: 3 }, 'temperature', /not be greater than 2/],
    ['temperature as a string', { ...base, temperature: 'hot' }, 'temperature', /number/],
    ['stream not boolean', { ...base, stream: 'yes' }, 'stream', /boolean/],
    ['max_tokens zero', { ...base, max_tokens: 0 }, 'max_tokens', /not be less than 1/],
    ['too many stop sequences', { ...base, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/],
    [
      'a bad tool name',
      { ...base, tools: [{ type: 'function', function: { name: 'has space' } }] },
      'tools[0].function.name',
      /must match/,
    ],
    ['a bad tool_choice', { ...base, tool_choice: 'sometimes' }, 'tool_choice', /tool_choice must be/],
    [
      'a bad reasoning effort',
      { ...base, reasoning: { effort: 'max' } },
      'reasoning.effort',
      /must be one of/,
    ],
  ])('rejects %s', (_name, input, param, message) => {
    const problem = rejection(input);
    expect(problem.code).toBe(RequestErrorCode.InvalidRequest);
    expect(problem.param).toBe(param);
    expect(problem.message).toMatch(message);
  });

  it('rejects n > 1 as an unsupported value', () => {
    expect(rejection({ ...base, n: 2 })).toEqual({
      code: RequestErrorCode.UnsupportedValue,
      param: 'n',
      message: "Invalid 'n': n > 1 is not supported: send one request per choice",
    });
  });

  it('reads a top-level null as "not given", as OpenAI does', () => {
    const dto = validateChatRequest({
      ...base,
      stop: null,
      max_tokens: null,
      tools: null,
      temperature: null,
    });
    expect(dto.stop).toBeUndefined();
    expect(dto.max_tokens).toBeUndefined();
    expect(dto.tools).toBeUndefined();
    expect(dto.temperature).toBeUndefined();
    expect(rejection({ ...base, model: null }).param).toBe('model');
  });

  it('reads null as "not given" inside messages, tools and options too, as OpenAI (and the DTO before) did', () => {
    // An assistant message as the Python SDK's model_dump() gives it back, a tool as a pydantic FunctionDefinition
    // dumps it, options with null members.
    const dto = validateChatRequest({
      ...base,
      messages: [
        { role: 'user', content: 'hi', name: null },
        {
          role: 'assistant',
          content: 'hello',
          refusal: null,
          tool_calls: null,
          function_call: null,
          audio: null,
          name: null,
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
          tool_call_id: null,
        },
        { role: 'tool', content: '1', tool_call_id: 'call_1', name: null },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'f',
            description: null,
            parameters: { type: 'object', default: null },
            strict: null,
          },
        },
      ],
      stream_options: { include_usage: null },
      reasoning: { effort: null, max_tokens: null },
      provider: { order: null, sort: null },
      response_format: { type: 'text', json_schema: null },
    });
    expect(dto.messages[1]).not.toHaveProperty('tool_calls');
    expect(dto.messages[0]).not.toHaveProperty('name');
    expect(dto.messages[2]!.content).toBeNull();
    expect(dto.tools?.[0]?.function).not.toHaveProperty('strict');
    // Free-form objects keep their nulls.
    expect(dto.tools?.[0]?.function.parameters).toEqual({ type: 'object', default: null });
    // A null where a value is required is still refused.
    expect(rejection({ ...base, messages: [{ role: 'tool', content: '1', tool_call_id: null }] }).param).toBe(
      'messages[0].tool_call_id',
    );
    expect(
      rejection({
        ...base,
        messages: [
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: null } }],
          },
        ],
      }).param,
    ).toBe('messages[0].tool_calls[0].function.arguments');
  });

  it('refuses values nested deeper than MAX_JSON_DEPTH before transforming them, anywhere in the body', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`) as unknown;
    for (const input of [
      { ...base, metadata: deep },
      { ...base, tools: [{ type: 'function', function: { name: 'f', parameters: deep } }] },
      { ...base, messages: [{ role: 'user', content: 'x', extra: deep }] },
    ]) {
      const problem = rejection(input);
      expect(problem.code).toBe(RequestErrorCode.InvalidRequest);
      expect(problem.message).toMatch(/deeper than 64 levels/);
    }
  });

  it('takes free-form objects as they are, whatever their keys (constructor, __proto__, toString)', () => {
    const schema = JSON.parse(
      '{"type":"object","properties":{"constructor":{"type":"string"},"__proto__":{"type":"number"},"toString":{}}}',
    ) as Record<string, unknown>;
    const dto = validateChatRequest({
      ...base,
      tools: [{ type: 'function', function: { name: 'f', parameters: schema } }],
      metadata: JSON.parse('{"constructor":"x"}') as Record<string, string>,
      ...(JSON.parse('{"constructor":{"prototype":1}}') as object),
    });
    expect(dto.tools?.[0]?.function.parameters).toBe(schema);
    expect(Object.keys(schema.properties as object)).toEqual(['constructor', '__proto__', 'toString']);
    expect(
      rejection({ ...base, messages: [{ role: 'user', content: JSON.parse('{"constructor":1}') as object }] })
        .param,
    ).toBe('messages[0].content');
  });

  it('makes an assistant message without content carry content: null', () => {
    const dto = validateChatRequest({
      ...base,
      messages: [
        { role: 'user', content: 'hi' },
        {
          role: 'assistant',
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', content: '1', tool_call_id: 'call_1' },
      ],
    });
    expect(dto.messages[1]!.content).toBeNull();
  });
});
