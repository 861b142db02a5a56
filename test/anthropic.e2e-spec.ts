import OpenAI from 'openai';
import { anthropicFake } from './fakes/anthropic.fake';
import type { VendorFake } from './fakes/vendor-fake';
import { startApp, type TestApp } from './support/app';
import { contentOf, jsonFrames, postJson, readSse } from './support/sse-client';
import { ANTHROPIC_CASES, TEST_KEY, vendorLayer } from './support/vendors';

/**
 * What the shared provider suite does not check for Anthropic: the exact Messages body a whole OpenAI
 * conversation becomes (system prompt, images, tools, an assistant tool call and its result), the headers
 * sent, thinking options, model options, parallel tool calls, and refusals of input Anthropic cannot express.
 */

const vendor = ANTHROPIC_CASES[0]!;
const MODEL = 'anthropic/test-model';

const WEATHER: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('Anthropic through the router', () => {
  let fake: VendorFake;
  let t: TestApp;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await anthropicFake().start();
    const layer = vendorLayer(vendor, fake, {
      provider: { headers: { 'anthropic-beta': 'token-efficient-tools-2025-02-19' } },
    });
    const models = layer.models as Array<Record<string, unknown>>;
    models.push({
      id: 'anthropic/capped',
      provider: 'anthropic',
      upstream: 'claude-haiku-4-5',
      options: { max_tokens: 1234 },
    });
    t = await startApp(layer);
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  it('sends a whole conversation as the exact Messages body, with Anthropic headers', async () => {
    fake.reply({ text: ['Sunny.'], usage: { prompt: 80, completion: 2 } });
    const stream = await client.chat.completions.create({
      model: MODEL,
      stream: true,
      max_tokens: 300,
      temperature: 0.3,
      top_p: 0.9,
      stop: ['\n\nHuman:'],
      user: 'user-7',
      tools: [WEATHER],
      tool_choice: 'auto',
      parallel_tool_calls: false,
      messages: [
        { role: 'system', content: 'You are a weather bot.' },
        { role: 'developer', content: 'Answer in one word.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Where is this, and what is the weather?' },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQSkZJRg==' } },
            { type: 'image_url', image_url: { url: 'https://example.com/street.png' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Looks like Paris.',
          tool_calls: [
            {
              id: 'toolu_01A09q90qw90lq917835lq9',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        {
          role: 'tool',
          tool_call_id: 'toolu_01A09q90qw90lq917835lq9',
          content: '{"sky":"clear","temp_c":21}',
        },
      ],
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Sunny.');

    const request = fake.lastRequest!;
    expect(request.path).toBe('/v1/messages');
    expect(request.headers).toMatchObject({
      'x-api-key': TEST_KEY,
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'token-efficient-tools-2025-02-19',
      'content-type': 'application/json',
      accept: 'text/event-stream',
    });
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 300,
      system: 'You are a weather bot.\n\nAnswer in one word.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Where is this, and what is the weather?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQSkZJRg==' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/street.png' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Looks like Paris.' },
            {
              type: 'tool_use',
              id: 'toolu_01A09q90qw90lq917835lq9',
              name: 'get_weather',
              input: { city: 'Paris' },
            },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_01A09q90qw90lq917835lq9',
              content: '{"sky":"clear","temp_c":21}',
            },
          ],
        },
      ],
      stream: true,
      stop_sequences: ['\n\nHuman:'],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather for a city',
          input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      ],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      temperature: 0.3,
      top_p: 0.9,
      metadata: { user_id: 'user-7' },
    });
  });

  it('asks for thinking with a budget below max_tokens and without temperature', async () => {
    fake.reply({ thinking: ['Hmm.'], text: ['42'], usage: { prompt: 5, completion: 9 } });
    const result = await readSse(
      await postJson(`${t.url}/v1/chat/completions`, {
        model: MODEL,
        stream: true,
        reasoning_effort: 'medium',
        max_tokens: 1000,
        temperature: 0.7,
        messages: [{ role: 'user', content: 'Meaning of life?' }],
      }),
    );
    expect(contentOf(result)).toBe('42');
    const body = fake.lastRequest!.body as Record<string, unknown>;
    expect(body.thinking).toEqual({ type: 'enabled', budget_tokens: 8192 });
    expect(body.max_tokens).toBe(9192);
    expect(body).not.toHaveProperty('temperature');
  });

  it("uses the model's options.max_tokens when the request sets none", async () => {
    fake.reply({ text: ['ok'], usage: { prompt: 1, completion: 1 } });
    await client.chat.completions.create({
      model: 'anthropic/capped',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(fake.lastRequest!.body).toMatchObject({ model: 'claude-haiku-4-5', max_tokens: 1234 });
    expect(fake.lastRequest!.headers.accept).toBe('application/json');
  });

  it('streams two tool calls after thinking and text as OpenAI tool indexes 0 and 1', async () => {
    fake.reply({
      thinking: ['Two cities.'],
      text: ['Checking.'],
      toolCalls: [
        { id: 'toolu_01Paris', name: 'get_weather', arguments: ['{"city":', '"Paris"}'] },
        { id: 'toolu_01Rome', name: 'get_weather', arguments: ['{"city":"Rome"}'] },
      ],
      usage: { prompt: 30, completion: 40 },
    });
    const final = await client.chat.completions
      .stream({
        model: MODEL,
        messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
        tools: [WEATHER],
      })
      .finalChatCompletion();
    const message = final.choices[0]!.message;
    expect(message.content).toBe('Checking.');
    expect(
      (message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]).map((c) => ({
        id: c.id,
        args: JSON.parse(c.function.arguments) as unknown,
      })),
    ).toEqual([
      { id: 'toolu_01Paris', args: { city: 'Paris' } },
      { id: 'toolu_01Rome', args: { city: 'Rome' } },
    ]);
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('an overloaded_error event mid-stream ends the stream with rate_limit_exceeded', async () => {
    fake.failMidStream({ text: ['partial'] }, 'overloaded');
    const result = await readSse(
      await postJson(`${t.url}/v1/chat/completions`, {
        model: MODEL,
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    );
    expect(contentOf(result)).toBe('partial');
    const error = jsonFrames(result).find((f) => 'error' in f) as { error: { code: string } } | undefined;
    expect(error?.error.code).toBe('rate_limit_exceeded');
    expect(result.events.at(-1)?.data).toBe('[DONE]');
  });

  it.each([
    [
      'an audio part',
      [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }],
      'messages[0].content[0].type',
    ],
    [
      'tool call arguments that are not JSON',
      [
        { role: 'user', content: 'Hi' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'x' },
      ],
      'messages[1].tool_calls[0].function.arguments',
    ],
  ])('%s -> 400 bad_request naming the field, and no upstream call', async (_what, messages, param) => {
    const response = await postJson(`${t.url}/v1/chat/completions`, { model: MODEL, stream: true, messages });
    const body = (await response.json()) as {
      error: { code: string; param: string | null; message: string };
    };
    expect(response.status).toBe(400);
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toContain(param);
    expect(body.error.param).toBe(param);
    expect(fake.requests).toHaveLength(0);
  });
});
