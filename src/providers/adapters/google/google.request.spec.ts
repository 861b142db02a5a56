import type { ChatCompletionRequest, ChatMessage, ChatTool } from '../../../contract/chat-request';
import { expectBadRequest } from '../../testing/errors';
import { cleanSchema, geminiModelPath, mimeTypeOf, toGeminiBody } from './google.request';

const req = (messages: ChatMessage[], extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'google/gemini',
  messages,
  ...extra,
});
const user = (content: ChatMessage['content']): ChatMessage => ({ role: 'user', content });
const body = (messages: ChatMessage[], extra: Partial<ChatCompletionRequest> = {}) =>
  toGeminiBody(req(messages, extra), 'google');

/** `run` must refuse as a google bad_request naming `param`, its message matching `message`. */
function expectRefusal(run: () => unknown, message: RegExp, param: string): void {
  expectBadRequest(run, param, { provider: 'google', message: expect.stringMatching(message) });
}

const WEATHER: ChatTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    },
    strict: true,
  },
};

describe('toGeminiBody: messages', () => {
  it('system and developer messages, wherever they are, become one systemInstruction', () => {
    expect(
      body([
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        user('Hi'),
        { role: 'system', content: 'No emojis.' },
      ]),
    ).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      systemInstruction: { parts: [{ text: 'Be brief.\n\nAnswer in French.\n\nNo emojis.' }] },
    });
  });

  it('has no systemInstruction and no generationConfig when the request has neither', () => {
    expect(body([user('Hi')])).toEqual({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
  });

  it('multi-part user content: text, data: images inline, http(s) images by URI with a guessed type', () => {
    expect(
      body([
        user([
          { type: 'text', text: 'Compare ' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/photos/cat.JPG?size=large#top' } },
          { type: 'image_url', image_url: { url: 'http://example.com/render?id=7', detail: 'low' } },
          { type: 'text', text: 'please.' },
        ]),
      ]).contents,
    ).toEqual([
      {
        role: 'user',
        parts: [
          { text: 'Compare ' },
          { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
          {
            fileData: {
              fileUri: 'https://example.com/photos/cat.JPG?size=large#top',
              mimeType: 'image/jpeg',
            },
          },
          { fileData: { fileUri: 'http://example.com/render?id=7' } },
          { text: 'please.' },
        ],
      },
    ]);
  });

  it('audio and files given as data: URLs go inline', () => {
    expect(
      body([
        user([
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
        ]),
      ]).contents[0]?.parts,
    ).toEqual([
      { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
      { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
    ]);
  });

  it('refuses image URLs Gemini cannot take, naming the field', () => {
    expectRefusal(
      () => body([user('a'), user([{ type: 'image_url', image_url: { url: 'ftp://example.com/a.png' } }])]),
      /messages\[1\]\.content\[0\]\.image_url\.url must be a data: URL or an http\(s\) URL/,
      'messages[1].content[0].image_url.url',
    );
    expectRefusal(
      () => body([user([{ type: 'image_url', image_url: { url: 'data:image/png,not-base64' } }])]),
      /must be a base64 data: URL/,
      'messages[0].content[0].image_url.url',
    );
  });

  it('refuses an OpenAI file id and unknown part types, naming the field', () => {
    expectRefusal(
      () => body([user([{ type: 'file', file: { file_id: 'file-abc' } }])]),
      /messages\[0\]\.content\[0\]\.file: .*file_id cannot be sent/,
      'messages[0].content[0].file',
    );
    const unknown = { type: 'video_url', video_url: { url: 'https://x/v.mp4' } } as unknown as {
      type: 'text';
      text: string;
    };
    expectRefusal(
      () => body([user([{ type: 'text', text: 'see' }, unknown])]),
      /messages\[0\]\.content\[1\]\.type 'video_url' cannot be sent to Gemini/,
      'messages[0].content[1].type',
    );
  });

  it('assistant text and tool calls -> model parts; tool results -> one user content of functionResponses', () => {
    expect(
      body([
        user('Weather in Paris and Rome?'),
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21, "sky": "clear"}' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '14:05' }] },
        { role: 'user', content: 'Thanks!' },
      ]).contents,
    ).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
      {
        role: 'model',
        parts: [
          { text: 'Checking.' },
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
          { functionCall: { name: 'get_time', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', response: { temp: 21, sky: 'clear' } } },
          { functionResponse: { name: 'get_time', response: { content: '14:05' } } },
          { text: 'Thanks!' },
        ],
      },
    ]);
  });

  it('a tool result that is JSON but not an object is sent as text', () => {
    const contents = body([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'c', content: '[1,2]' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'd', type: 'function', function: { name: 'g', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'd', content: '{not json' },
    ]).contents;
    expect(contents[1]?.parts).toEqual([{ functionResponse: { name: 'f', response: { content: '[1,2]' } } }]);
    expect(contents[3]?.parts).toEqual([
      { functionResponse: { name: 'g', response: { content: '{not json' } } },
    ]);
  });

  it('merges consecutive contents of the same role and drops empty ones', () => {
    expect(
      body([
        user('one'),
        user(''),
        user([{ type: 'text', text: 'two' }]),
        { role: 'assistant', content: '' },
        user('three'),
      ]).contents,
    ).toEqual([{ role: 'user', parts: [{ text: 'one' }, { text: 'two' }, { text: 'three' }] }]);
  });

  it('refuses tool call arguments that are not a JSON object, naming the field', () => {
    expectRefusal(
      () =>
        body([
          user('x'),
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":' } }],
          },
        ]),
      /messages\[1\]\.tool_calls\[0\]\.function\.arguments must be a JSON object/,
      'messages[1].tool_calls[0].function.arguments',
    );
  });

  it('refuses a tool result that answers no earlier tool call, or names none', () => {
    expectRefusal(
      () => body([user('x'), { role: 'tool', tool_call_id: 'call_unknown', content: 'r' }]),
      /messages\[1\]\.tool_call_id 'call_unknown' answers no earlier assistant tool call/,
      'messages[1].tool_call_id',
    );
    expectRefusal(
      () => body([user('x'), { role: 'tool', content: 'r' }]),
      /messages\[1\]\.tool_call_id is missing/,
      'messages[1].tool_call_id',
    );
  });
});

describe('toGeminiBody: tools and tool_choice', () => {
  it('declares functions with cleaned parameters', () => {
    expect(body([user('x')], { tools: [WEATHER] }).tools).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Current weather for a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        ],
      },
    ]);
  });

  it('declares a function without arguments with no parameters at all', () => {
    const tools: ChatTool[] = [
      { type: 'function', function: { name: 'now' } },
      { type: 'function', function: { name: 'today', parameters: { type: 'object', properties: {} } } },
    ];
    expect(body([user('x')], { tools }).tools).toEqual([
      { functionDeclarations: [{ name: 'now' }, { name: 'today' }] },
    ]);
  });

  it.each([
    ['auto', { mode: 'AUTO' }],
    ['required', { mode: 'ANY' }],
    ['none', { mode: 'NONE' }],
    [
      { type: 'function', function: { name: 'get_weather' } },
      { mode: 'ANY', allowedFunctionNames: ['get_weather'] },
    ],
  ] as const)('tool_choice %j -> functionCallingConfig %j', (choice, config) => {
    expect(body([user('x')], { tools: [WEATHER], tool_choice: choice }).toolConfig).toEqual({
      functionCallingConfig: config,
    });
  });
});

describe('cleanSchema', () => {
  it('drops keys Gemini rejects at every depth, keeping what it knows and every property name', () => {
    expect(
      cleanSchema({
        $schema: 'http://json-schema.org/draft-07/schema#',
        $id: 'urn:x',
        type: 'object',
        description: 'Args',
        additionalProperties: false,
        strict: true,
        properties: {
          $schema: { type: 'string' },
          tags: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              additionalProperties: false,
              properties: { k: { type: 'string', format: 'date' } },
            },
          },
          mode: { type: 'string', enum: ['a', 'b'], default: 'a' },
          count: { type: 'integer', minimum: 0, exclusiveMinimum: 0, maximum: 9 },
        },
        required: ['tags'],
        $defs: { unused: { type: 'string' } },
      }),
    ).toEqual({
      type: 'object',
      description: 'Args',
      properties: {
        $schema: { type: 'string' },
        tags: {
          type: 'array',
          minItems: 1,
          items: { type: 'object', properties: { k: { type: 'string', format: 'date' } } },
        },
        mode: { type: 'string', enum: ['a', 'b'], default: 'a' },
        count: { type: 'integer', minimum: 0, maximum: 9 },
      },
      required: ['tags'],
    });
  });

  it('rewrites nullable type lists, null in enum, const, and oneOf into what Gemini has', () => {
    expect(
      cleanSchema({
        type: 'object',
        properties: {
          note: { type: ['string', 'null'] },
          id: { type: ['string', 'integer'] },
          kind: { const: 'fixed' },
          size: { type: 'string', enum: ['s', 'm', null] },
          either: { oneOf: [{ type: 'string', additionalProperties: false }, { type: 'number' }] },
          nullable: { type: 'string', nullable: true },
        },
      }),
    ).toEqual({
      type: 'object',
      properties: {
        note: { type: 'string', nullable: true },
        id: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
        kind: { enum: ['fixed'] },
        size: { type: 'string', enum: ['s', 'm'], nullable: true },
        either: { anyOf: [{ type: 'string' }, { type: 'number' }] },
        nullable: { type: 'string', nullable: true },
      },
    });
  });
});

describe('toGeminiBody: generationConfig', () => {
  it('maps sampling, token cap, stop, seed, penalties', () => {
    expect(
      body([user('x')], {
        temperature: 0.2,
        top_p: 0.9,
        max_tokens: 100,
        max_completion_tokens: 50,
        stop: 'END',
        seed: 7,
        presence_penalty: 0.5,
        frequency_penalty: -0.5,
      }).generationConfig,
    ).toEqual({
      temperature: 0.2,
      topP: 0.9,
      maxOutputTokens: 50,
      stopSequences: ['END'],
      seed: 7,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
    });
    expect(body([user('x')], { max_tokens: 64, stop: ['a', 'b'] }).generationConfig).toEqual({
      maxOutputTokens: 64,
      stopSequences: ['a', 'b'],
    });
  });

  it('asks for JSON for json_object and json_schema, with the schema for the latter', () => {
    expect(body([user('x')], { response_format: { type: 'json_object' } }).generationConfig).toEqual({
      responseMimeType: 'application/json',
    });
    const schema = { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false };
    expect(
      body([user('x')], {
        response_format: { type: 'json_schema', json_schema: { name: 'out', strict: true, schema } },
      }).generationConfig,
    ).toEqual({ responseMimeType: 'application/json', responseJsonSchema: schema });
    expect(body([user('x')], { response_format: { type: 'text' } }).generationConfig).toBeUndefined();
  });

  it.each<[string, Partial<ChatCompletionRequest>, unknown]>([
    ['reasoning_effort low', { reasoning_effort: 'low' }, { thinkingBudget: 2048, includeThoughts: true }],
    ['reasoning_effort high', { reasoning_effort: 'high' }, { thinkingBudget: 24576, includeThoughts: true }],
    [
      'reasoning.effort medium',
      { reasoning: { effort: 'medium' } },
      { thinkingBudget: 8192, includeThoughts: true },
    ],
    [
      'reasoning.max_tokens',
      { reasoning: { max_tokens: 3000 } },
      { thinkingBudget: 3000, includeThoughts: true },
    ],
    ['reasoning.enabled', { reasoning: { enabled: true } }, { thinkingBudget: 8192, includeThoughts: true }],
    [
      'reasoning.exclude',
      { reasoning: { effort: 'low', exclude: true } },
      { thinkingBudget: 2048, includeThoughts: false },
    ],
    ['reasoning_effort none', { reasoning_effort: 'none' }, { thinkingBudget: 0 }],
    ['reasoning.enabled false', { reasoning: { enabled: false } }, { thinkingBudget: 0 }],
    ['reasoning.effort none', { reasoning: { effort: 'none' } }, { thinkingBudget: 0 }],
  ])('%s -> thinkingConfig %j', (_what, extra, thinking) => {
    expect(body([user('x')], extra).generationConfig).toEqual({ thinkingConfig: thinking });
  });

  it("leaves thinking to the model's default when the request says nothing", () => {
    expect(body([user('x')], { temperature: 1 }).generationConfig).toEqual({ temperature: 1 });
  });
});

describe('geminiModelPath and mimeTypeOf', () => {
  it('encodes the model name for the path and drops a leading models/', () => {
    expect(geminiModelPath('gemini-2.5-flash')).toBe('gemini-2.5-flash');
    expect(geminiModelPath('models/gemini-2.5-pro')).toBe('gemini-2.5-pro');
    expect(geminiModelPath('tuned model/v1?x#y')).toBe('tuned%20model%2Fv1%3Fx%23y');
  });

  it.each([
    ['https://x.test/a.png', 'image/png'],
    ['https://x.test/a.jpeg', 'image/jpeg'],
    ['https://x.test/b/c.WEBP?x=1', 'image/webp'],
    ['https://x.test/doc.pdf', 'application/pdf'],
    ['https://x.test/noext', undefined],
    ['https://x.test/a.unknown', undefined],
    ['not a url', undefined],
  ])('%s -> %s', (url, type) => {
    expect(mimeTypeOf(url)).toBe(type);
  });
});
