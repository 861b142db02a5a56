import OpenAI from 'openai';
import type { VendorFake } from './fakes/vendor-fake';
import { startApp, type TestApp } from './support/app';
import { contentOf, deltasOf, jsonFrames, postJson, readSse } from './support/sse-client';
import { GOOGLE_CASES, startFake, TEST_KEY, vendorLayer } from './support/vendors';

/**
 * What the shared provider suite does not cover for Gemini: the exact upstream request for a whole conversation
 * (system prompt, images, tools, an assistant tool call and its result, generation options), the non-streaming
 * route, the vendor's own headers and finish reasons, and request parts Gemini cannot take.
 */

const vendor = GOOGLE_CASES[0]!;
const model = `${vendor.name}/test-model`;

describe('google (Gemini) through the router', () => {
  let fake: VendorFake;
  let t: TestApp;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFake(vendor);
    t = await startApp(
      vendorLayer(vendor, fake, { provider: { headers: { 'x-goog-user-project': 'cb-test' } } }),
    );
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  it('sends a whole conversation as the exact Gemini request body, with the vendor headers', async () => {
    fake.reply({ text: ['Sunny.'], usage: { prompt: 80, completion: 2 } });
    const stream = await client.chat.completions.create({
      model,
      stream: true,
      messages: [
        { role: 'system', content: 'You are a weather bot.' },
        { role: 'developer', content: 'Use metric units.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is the weather where these were taken?' },
            { type: 'image_url', image_url: { url: 'data:image/webp;base64,UklGRhIAAABXRUJQ' } },
            {
              type: 'image_url',
              image_url: { url: 'https://images.example.com/street.png', detail: 'high' },
            },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Lyon"}' },
            },
            {
              id: 'call_b',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Nice"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: '{"celsius":18,"sky":"cloudy"}' },
        { role: 'tool', tool_call_id: 'call_b', content: 'sunny, 24 degrees' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather for a city',
            strict: true,
            parameters: {
              $schema: 'http://json-schema.org/draft-07/schema#',
              type: 'object',
              properties: {
                city: { type: 'string', description: 'City name' },
                unit: { type: ['string', 'null'], enum: ['celsius', 'fahrenheit', null] },
              },
              required: ['city'],
              additionalProperties: false,
            },
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      temperature: 0.3,
      top_p: 0.8,
      max_completion_tokens: 300,
      stop: ['\n\n'],
      seed: 42,
      reasoning_effort: 'low',
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Sunny.');

    const request = fake.lastRequest!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(request.headers).toMatchObject({
      'x-goog-api-key': TEST_KEY,
      'x-goog-user-project': 'cb-test',
      'content-type': 'application/json',
      accept: 'text/event-stream',
    });
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toEqual({
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'What is the weather where these were taken?' },
            { inlineData: { mimeType: 'image/webp', data: 'UklGRhIAAABXRUJQ' } },
            { fileData: { fileUri: 'https://images.example.com/street.png', mimeType: 'image/png' } },
          ],
        },
        {
          role: 'model',
          parts: [
            { functionCall: { name: 'get_weather', args: { city: 'Lyon' } } },
            { functionCall: { name: 'get_weather', args: { city: 'Nice' } } },
          ],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { celsius: 18, sky: 'cloudy' } } },
            { functionResponse: { name: 'get_weather', response: { content: 'sunny, 24 degrees' } } },
          ],
        },
      ],
      systemInstruction: { parts: [{ text: 'You are a weather bot.\n\nUse metric units.' }] },
      tools: [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Current weather for a city',
              parameters: {
                type: 'object',
                properties: {
                  city: { type: 'string', description: 'City name' },
                  unit: { type: 'string', nullable: true, enum: ['celsius', 'fahrenheit'] },
                },
                required: ['city'],
              },
            },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
      generationConfig: {
        temperature: 0.3,
        topP: 0.8,
        maxOutputTokens: 300,
        stopSequences: ['\n\n'],
        seed: 42,
        thinkingConfig: { thinkingBudget: 2048, includeThoughts: true },
      },
    });
  });

  it('answers a non-streaming request from :generateContent, without alt=sse', async () => {
    fake.reply({ text: ['Whole.'], usage: { prompt: 3, completion: 1 } });
    const completion = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Hi' }],
      reasoning_effort: 'none',
    });
    expect(completion.choices[0]?.message.content).toBe('Whole.');
    expect(fake.lastRequest!.url).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(fake.lastRequest!.headers.accept).toBe('application/json');
    expect(fake.lastRequest!.body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      generationConfig: { thinkingConfig: { thinkingBudget: 0 } },
    });
  });

  it("gives each of Gemini's whole function calls its own index and id, arguments in one delta", async () => {
    fake.reply({
      toolCalls: [
        { name: 'get_weather', arguments: ['{"city":"Paris"}'] },
        { name: 'get_time', arguments: ['{"zone":"Europe/Paris"}'] },
      ],
      usage: { prompt: 10, completion: 12 },
    });
    const result = await readSse(
      await postJson(`${t.url}/v1/chat/completions`, {
        model,
        stream: true,
        messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
      }),
    );
    const calls = deltasOf(result).flatMap(
      (d) => (d as { tool_calls?: Array<Record<string, unknown>> }).tool_calls ?? [],
    );
    expect(calls).toEqual([
      expect.objectContaining({
        index: 0,
        id: expect.stringMatching(/^call_/) as unknown,
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      }),
      expect.objectContaining({
        index: 1,
        id: expect.stringMatching(/^call_/) as unknown,
        type: 'function',
        function: { name: 'get_time', arguments: '{"zone":"Europe/Paris"}' },
      }),
    ]);
    expect(calls[0]!.id).not.toBe(calls[1]!.id);
    const finish = jsonFrames(result)
      .map((f) => (f as { choices?: Array<{ finish_reason?: string | null }> }).choices?.[0]?.finish_reason)
      .find(Boolean);
    expect(finish).toBe('tool_calls');
  });

  it.each([
    ['MAX_TOKENS', 'length'],
    ['SAFETY', 'content_filter'],
    ['RECITATION', 'content_filter'],
    ['MALFORMED_FUNCTION_CALL', 'stop'],
  ])('finishReason %s -> finish_reason %s', async (reason, expected) => {
    fake.reply({ text: ['Some text'], finish: reason, usage: { prompt: 2, completion: 2 } });
    const completion = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.choices[0]?.finish_reason).toBe(expected);
  });

  it('a prompt Gemini blocks (no candidates) ends the stream with finish_reason content_filter', async () => {
    fake.enqueue(() => ({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      steps: [
        {
          write:
            'data: {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},"usageMetadata": {"promptTokenCount": 6,"totalTokenCount": 6},"modelVersion": "gemini-2.5-flash","responseId": "blk1"}\r\n\r\n',
        },
      ],
    }));
    const result = await readSse(
      await postJson(`${t.url}/v1/chat/completions`, {
        model,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Something blocked' }],
      }),
    );
    expect(result.status).toBe(200);
    expect(contentOf(result)).toBe('');
    const frames = jsonFrames(result) as Array<{
      choices?: Array<{ finish_reason?: string | null }>;
      usage?: { prompt_tokens: number } | null;
    }>;
    expect(frames.map((f) => f.choices?.[0]?.finish_reason).find(Boolean)).toBe('content_filter');
    expect(frames.find((f) => f.usage)?.usage?.prompt_tokens).toBe(6);
    expect(result.events.at(-1)?.data).toBe('[DONE]');
  });

  it('a retry-after header, when Gemini sends one, wins over RetryInfo', async () => {
    fake.fail('rate_limit', { retryAfterSeconds: 22, headers: { 'retry-after': '3' } });
    const response = await postJson(`${t.url}/v1/chat/completions`, {
      model,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('3');
    fake.fail('rate_limit', { retryAfterSeconds: 22 });
    const onlyRetryInfo = await postJson(`${t.url}/v1/chat/completions`, {
      model,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(onlyRetryInfo.headers.get('retry-after')).toBe('22');
  });

  it('refuses parts Gemini cannot take with a 400 naming the field, without calling Gemini', async () => {
    const response = await postJson(`${t.url}/v1/chat/completions`, {
      model,
      stream: true,
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'tool', tool_call_id: 'call_nowhere', content: '42' },
      ],
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toContain("messages[1].tool_call_id 'call_nowhere'");
    expect(fake.requests).toHaveLength(0);
  });

  it('the fake answers [fake:...] directives read from Gemini contents (tool call, thinking)', async () => {
    const result = await readSse(
      await postJson(`${t.url}/v1/chat/completions`, {
        model,
        stream: true,
        messages: [{ role: 'user', content: 'Weather? [fake:thinking] [fake:tool=lookup]' }],
      }),
    );
    const deltas = deltasOf(result) as Array<{
      reasoning?: string;
      tool_calls?: Array<{ function: unknown }>;
    }>;
    expect(deltas.map((d) => d.reasoning ?? '').join('')).toBe('Let me think about that.');
    expect(deltas.flatMap((d) => d.tool_calls ?? []).map((c) => c.function)).toEqual([
      { name: 'lookup', arguments: '{"city":"Paris"}' },
    ]);
  });
});
