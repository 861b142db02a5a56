import type { ChatCompletionRequest, ChatTool } from '../../../contract/chat-request';
import type { ProviderError } from '../../provider.error';
import { expectBadRequest } from '../../testing/errors';
import { toOllamaBody } from './ollama.request';

const WEATHER: ChatTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const TIME: ChatTool = { type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } };

function req(overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'ollama/qwen3:8b', messages: [{ role: 'user', content: 'Hi' }], ...overrides };
}

function body(overrides: Partial<ChatCompletionRequest> = {}, stream = true) {
  return toOllamaBody(req(overrides), 'qwen3:8b', stream, 'ollama');
}

/** The translation must reject the request as a bad_request naming `param` (see expectBadRequest). */
function rejection(overrides: Partial<ChatCompletionRequest>, param: string): ProviderError {
  return expectBadRequest(() => body(overrides), param);
}

describe('toOllamaBody', () => {
  it('a minimal request: model, messages, an explicit stream flag, nothing undefined', () => {
    expect(body()).toEqual({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    expect(body({ stream: false }, false)).toEqual({
      model: 'qwen3:8b',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: false,
    });
    expect(JSON.stringify(body())).not.toContain('undefined');
  });

  it('system and developer messages as system; text parts joined', () => {
    expect(
      body({
        messages: [
          { role: 'system', content: 'Be brief.' },
          {
            role: 'developer',
            content: [
              { type: 'text', text: 'Answer in French.' },
              { type: 'text', text: 'No emoji.' },
            ],
          },
          { role: 'user', content: 'Hi' },
        ],
      }).messages,
    ).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'system', content: 'Answer in French.\nNo emoji.' },
      { role: 'user', content: 'Hi' },
    ]);
  });

  it('multi-part user content: text joined, data: URL images as base64 payloads', () => {
    const message = body({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'text', text: 'and in this one?' },
            {
              type: 'image_url',
              image_url: { url: 'data:image/jpeg;base64,/9j/4AAQSkZJRg==', detail: 'low' },
            },
          ],
        },
      ],
    }).messages[0];
    expect(message).toEqual({
      role: 'user',
      content: 'What is in\nand in this one?',
      images: ['iVBORw0KGgo=', '/9j/4AAQSkZJRg=='],
    });
  });

  it('rejects http(s) image URLs, non-image data, audio and file parts, naming the field', () => {
    const url = rejection(
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Look' },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
      },
      'messages[0].content[1].image_url.url',
    );
    expect(url.message).toContain('http(s) image URL');

    rejection(
      {
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'data:application/pdf;base64,JVBER' } }],
          },
        ],
      },
      'messages[0].content[0].image_url.url',
    );

    const audio = rejection(
      {
        messages: [
          { role: 'system', content: 'x' },
          { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] },
        ],
      },
      'messages[1].content[0]',
    );
    expect(audio.message).toContain("'input_audio'");

    rejection(
      { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'f1' } }] }] },
      'messages[0].content[0]',
    );

    rejection(
      {
        messages: [
          {
            role: 'system',
            content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }],
          },
        ],
      },
      'messages[0].content[0]',
    );
  });

  it('assistant tool calls with object arguments; tool results named after their call', () => {
    const { messages } = body({
      messages: [
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_2', content: '10:00' },
        { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '18°C' }] },
        { role: 'tool', tool_call_id: 'call_unknown', content: '?' },
        { role: 'assistant', content: 'It is 18°C at 10:00.' },
      ],
    });
    expect(messages).toEqual([
      { role: 'user', content: 'Weather and time in Paris?' },
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
          { function: { name: 'get_time', arguments: {} } },
        ],
      },
      { role: 'tool', content: '10:00', tool_name: 'get_time' },
      { role: 'tool', content: '18°C', tool_name: 'get_weather' },
      { role: 'tool', content: '?' },
      { role: 'assistant', content: 'It is 18°C at 10:00.' },
    ]);
  });

  it('rejects tool call arguments that are not a JSON object, naming the field', () => {
    for (const args of ['{"city":', '[1,2]', '"Paris"']) {
      rejection(
        {
          messages: [
            { role: 'user', content: 'Hi' },
            {
              role: 'assistant',
              content: null,
              tool_calls: [
                { id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } },
                { id: 'b', type: 'function', function: { name: 'g', arguments: args } },
              ],
            },
          ],
        },
        'messages[1].tool_calls[1].function.arguments',
      );
    }
  });

  it('tools as they are; tool_choice none drops them, a named function keeps only that one', () => {
    expect(body({ tools: [WEATHER, TIME] }).tools).toEqual([WEATHER, TIME]);
    expect(body({ tools: [WEATHER, TIME], tool_choice: 'auto' }).tools).toEqual([WEATHER, TIME]);
    expect(body({ tools: [WEATHER, TIME], tool_choice: 'required' }).tools).toEqual([WEATHER, TIME]);
    expect(body({ tools: [WEATHER, TIME], tool_choice: 'none' })).not.toHaveProperty('tools');
    expect(
      body({ tools: [WEATHER, TIME], tool_choice: { type: 'function', function: { name: 'get_time' } } })
        .tools,
    ).toEqual([TIME]);
    expect(body({ tools: [] })).not.toHaveProperty('tools');
    rejection(
      { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'nope' } } },
      'tool_choice',
    );
  });

  it('sampling options: temperature, top_p, num_predict, stop as a list, seed, penalties', () => {
    expect(
      body({
        temperature: 0.2,
        top_p: 0.9,
        max_tokens: 50,
        stop: 'END',
        seed: 42,
        presence_penalty: 0.5,
        frequency_penalty: -0.5,
      }).options,
    ).toEqual({
      temperature: 0.2,
      top_p: 0.9,
      num_predict: 50,
      stop: ['END'],
      seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
    });
    expect(body({ max_tokens: 50, max_completion_tokens: 80, stop: ['a', 'b'] }).options).toEqual({
      num_predict: 80,
      stop: ['a', 'b'],
    });
    expect(body({ temperature: 0 }).options).toEqual({ temperature: 0 });
    expect(body()).not.toHaveProperty('options');
  });

  it('think: true when reasoning is wanted, false when turned off, absent otherwise', () => {
    expect(body({ reasoning_effort: 'low' }).think).toBe(true);
    expect(body({ reasoning: { effort: 'high' } }).think).toBe(true);
    expect(body({ reasoning: { max_tokens: 2000 } }).think).toBe(true);
    expect(body({ reasoning: {} }).think).toBe(true);
    expect(body({ reasoning_effort: 'none' }).think).toBe(false);
    expect(body({ reasoning: { enabled: false } }).think).toBe(false);
    expect(body({ reasoning: { effort: 'none' } }).think).toBe(false);
    expect(body()).not.toHaveProperty('think');
  });

  it('response_format: json_object -> "json", json_schema -> the schema, text -> nothing', () => {
    const schema = { type: 'object', properties: { answer: { type: 'number' } }, required: ['answer'] };
    expect(body({ response_format: { type: 'json_object' } }).format).toBe('json');
    expect(
      body({ response_format: { type: 'json_schema', json_schema: { name: 'a', schema, strict: true } } })
        .format,
    ).toEqual(schema);
    expect(body({ response_format: { type: 'text' } })).not.toHaveProperty('format');
    rejection(
      { response_format: { type: 'json_schema', json_schema: { name: 'a' } } },
      'response_format.json_schema.schema',
    );
  });

  it('drops what Ollama has no field for (user, metadata, parallel_tool_calls, stream_options)', () => {
    expect(
      body({
        user: 'u1',
        metadata: { a: 'b' },
        parallel_tool_calls: false,
        stream_options: { include_usage: true },
      }),
    ).toEqual({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'Hi' }], stream: true });
  });
});
