import { ModelConfig } from '../../../config/app-config';
import type { ChatCompletionRequest, ChatMessage, ChatTool } from '../../../contract/chat-request';
import { expectBadRequest } from '../../testing/errors';
import { toAnthropicBody } from './anthropic.request';

function model(options: Record<string, unknown> = {}): ModelConfig {
  return Object.assign(new ModelConfig(), {
    id: 'anthropic/claude',
    provider: 'anthropic',
    upstream: 'claude-sonnet-4-5',
    options,
  });
}

function body(overrides: Partial<ChatCompletionRequest> = {}, options: Record<string, unknown> = {}) {
  return toAnthropicBody(
    { model: 'anthropic/claude', messages: [{ role: 'user', content: 'Hi' }], ...overrides },
    model(options),
    true,
    'anthropic',
  );
}

/** The translation must refuse the request as a bad_request naming `param` (see expectBadRequest). */
function refused(overrides: Partial<ChatCompletionRequest>, param: string): void {
  expectBadRequest(() => body(overrides), param);
}

const WEATHER: ChatTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('toAnthropicBody', () => {
  it('a plain request: upstream model, default max_tokens, stream flag, string content kept', () => {
    expect(body()).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    const whole = toAnthropicBody(
      { model: 'm', messages: [{ role: 'user', content: 'Hi' }] },
      model(),
      false,
      'anthropic',
    );
    expect(whole).not.toHaveProperty('stream');
  });

  it('system and developer messages, wherever they are, become one top-level system string', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      {
        role: 'developer',
        content: [
          { type: 'text', text: 'Answer in ' },
          { type: 'text', text: 'French.' },
        ],
      },
      { role: 'user', content: 'Hi' },
      { role: 'system', content: '' },
      { role: 'system', content: 'No emojis.' },
    ];
    const out = body({ messages });
    expect(out.system).toBe('Be brief.\n\nAnswer in French.\n\nNo emojis.');
    expect(out.messages).toEqual([{ role: 'user', content: 'Hi' }]);
    expect(body()).not.toHaveProperty('system');
  });

  it('multi-part user content: text, data: URL images as base64, http(s) images as URLs', () => {
    const out = body({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'text', text: '' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
          ],
        },
      ],
    });
    expect(out.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });

  it.each([
    [
      'input_audio',
      { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
      'messages[0].content[1].type',
    ],
    ['file', { type: 'file', file: { file_id: 'file-1' } }, 'messages[0].content[1].type'],
    [
      'an ftp image URL',
      { type: 'image_url', image_url: { url: 'ftp://example.com/a.png' } },
      'messages[0].content[1].image_url.url',
    ],
    [
      'a PDF data: URL',
      { type: 'image_url', image_url: { url: 'data:application/pdf;base64,JVBERi0=' } },
      'messages[0].content[1].image_url.url',
    ],
  ] as const)('a %s part -> bad_request naming %s', (_what, part, param) => {
    refused({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Look' }, part] }] }, param);
  });

  it('an image in a system message -> bad_request naming the part', () => {
    refused(
      {
        messages: [
          {
            role: 'system',
            content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }],
          },
          { role: 'user', content: 'Hi' },
        ],
      },
      'messages[0].content[0].type',
    );
  });

  it('assistant tool calls -> tool_use blocks after the text; tool results -> one merged user message', () => {
    const out = body({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18°C' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '21°C' }] },
        { role: 'user', content: 'Thanks!' },
      ],
    });
    expect(out.messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '18°C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: '21°C' },
          { type: 'text', text: 'Thanks!' },
        ],
      },
    ]);
  });

  it('an assistant message with null content and tool calls has no text block', () => {
    const out = body({
      messages: [
        { role: 'user', content: 'Hi' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
      ],
    });
    expect(out.messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }],
    });
  });

  it('merges consecutive same-role messages and drops empty ones', () => {
    const out = body({
      messages: [
        { role: 'user', content: 'One.' },
        { role: 'user', content: [{ type: 'text', text: 'Two.' }] },
        { role: 'assistant', content: '' },
        { role: 'assistant', content: 'A.' },
        { role: 'assistant', content: 'B.' },
      ],
    });
    expect(out.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'One.' },
          { type: 'text', text: 'Two.' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'A.' },
          { type: 'text', text: 'B.' },
        ],
      },
    ]);
  });

  it.each(['{"city":', '[1,2]', '"Paris"'])(
    'unparsable or non-object tool call arguments %j -> bad_request naming the field',
    (args) => {
      refused(
        {
          messages: [
            { role: 'user', content: 'Hi' },
            {
              role: 'assistant',
              content: null,
              tool_calls: [
                { id: 'c0', type: 'function', function: { name: 'f', arguments: '{}' } },
                { id: 'c1', type: 'function', function: { name: 'f', arguments: args } },
              ],
            },
          ],
        },
        'messages[1].tool_calls[1].function.arguments',
      );
    },
  );

  it('a tool message without tool_call_id -> bad_request', () => {
    refused({ messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id');
  });

  it('tools -> name, description, input_schema (an empty object schema when none is given)', () => {
    const out = body({
      tools: [WEATHER, { type: 'function', function: { name: 'now' } }],
    });
    expect(out.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Current weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(out).not.toHaveProperty('tool_choice');
  });

  it.each([
    ['auto', undefined, { type: 'auto' }],
    ['required', undefined, { type: 'any' }],
    ['none', undefined, { type: 'none' }],
    [
      { type: 'function', function: { name: 'get_weather' } },
      undefined,
      { type: 'tool', name: 'get_weather' },
    ],
    ['auto', false, { type: 'auto', disable_parallel_tool_use: true }],
    ['required', false, { type: 'any', disable_parallel_tool_use: true }],
    [
      { type: 'function', function: { name: 'get_weather' } },
      false,
      { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
    ],
    ['none', false, { type: 'none' }],
    [undefined, false, { type: 'auto', disable_parallel_tool_use: true }],
    ['auto', true, { type: 'auto' }],
  ] as const)('tool_choice %j with parallel_tool_calls %j -> %j', (choice, parallel, expected) => {
    const out = body({ tools: [WEATHER], tool_choice: choice, parallel_tool_calls: parallel });
    expect(out.tool_choice).toEqual(expected);
  });

  it('tool_choice without tools is not sent', () => {
    expect(body({ tool_choice: 'auto' })).not.toHaveProperty('tool_choice');
  });

  it('stop -> stop_sequences; temperature, top_p; user -> metadata.user_id', () => {
    expect(body({ stop: 'END', temperature: 0.2, top_p: 0.9, user: 'user-42' })).toMatchObject({
      stop_sequences: ['END'],
      temperature: 0.2,
      top_p: 0.9,
      metadata: { user_id: 'user-42' },
    });
    expect(body({ stop: ['a', 'b'] }).stop_sequences).toEqual(['a', 'b']);
    expect(body({ stop: [] })).not.toHaveProperty('stop_sequences');
  });

  it('max tokens: max_completion_tokens, else max_tokens, else the model option, else 4096', () => {
    expect(body({ max_completion_tokens: 100, max_tokens: 200 }).max_tokens).toBe(100);
    expect(body({ max_tokens: 200 }).max_tokens).toBe(200);
    expect(body({}, { max_tokens: 8192 }).max_tokens).toBe(8192);
    expect(body({}, { max_tokens: 'lots' }).max_tokens).toBe(4096);
    expect(body().max_tokens).toBe(4096);
  });

  describe('reasoning -> thinking', () => {
    it.each([
      [{ reasoning_effort: 'low' }, 2048],
      [{ reasoning_effort: 'minimal' }, 1024],
      [{ reasoning_effort: 'medium' }, 8192],
      [{ reasoning: { effort: 'high' } }, 24576],
      [{ reasoning: { max_tokens: 3000 } }, 3000],
      [{ reasoning: { max_tokens: 100 } }, 1024],
      [{ reasoning: {} }, 4096],
      [{ reasoning: { enabled: true } }, 4096],
    ] as const)('%j -> budget_tokens %d', (options, budget) => {
      expect(body({ ...options, max_tokens: 64_000 })).toMatchObject({
        thinking: { type: 'enabled', budget_tokens: budget },
        max_tokens: 64_000,
      });
    });

    it.each([
      { reasoning_effort: 'none' },
      { reasoning: { enabled: false } },
      { reasoning: { effort: 'none' } },
      {},
    ] as const)('%j -> no thinking', (options) => {
      expect(body(options)).not.toHaveProperty('thinking');
    });

    it('raises max_tokens above the budget, keeping the room the answer asked for', () => {
      expect(body({ reasoning_effort: 'low', max_tokens: 500 }).max_tokens).toBe(2548);
      expect(body({ reasoning_effort: 'high' }).max_tokens).toBe(24576 + 4096);
      expect(body({ reasoning_effort: 'low', max_tokens: 2048 }).max_tokens).toBe(4096);
      expect(body({ reasoning_effort: 'low', max_tokens: 2049 }).max_tokens).toBe(2049);
    });

    it('drops temperature, and top_p below 0.95', () => {
      const low = body({ reasoning_effort: 'low', temperature: 0.2, top_p: 0.5 });
      expect(low).not.toHaveProperty('temperature');
      expect(low).not.toHaveProperty('top_p');
      expect(body({ reasoning_effort: 'low', top_p: 0.97 }).top_p).toBe(0.97);
    });

    it.each(['required', { type: 'function', function: { name: 'get_weather' } }] as const)(
      'with a forced tool_choice %j -> bad_request naming tool_choice',
      (choice) => {
        refused({ reasoning_effort: 'low', tools: [WEATHER], tool_choice: choice }, 'tool_choice');
      },
    );

    it('keeps tool_choice auto with thinking', () => {
      expect(body({ reasoning_effort: 'low', tools: [WEATHER], tool_choice: 'auto' }).tool_choice).toEqual({
        type: 'auto',
      });
    });
  });

  it('response_format json -> bad_request; text is accepted', () => {
    refused({ response_format: { type: 'json_object' } }, 'response_format');
    expect(body({ response_format: { type: 'text' } })).not.toHaveProperty('response_format');
  });

  it('drops fields Anthropic has no use for (seed, penalties, n, stream_options)', () => {
    const out = body({
      seed: 7,
      presence_penalty: 1,
      frequency_penalty: 1,
      n: 1,
      stream_options: { include_usage: true },
    });
    expect(Object.keys(out).sort()).toEqual(['max_tokens', 'messages', 'model', 'stream']);
  });
});
