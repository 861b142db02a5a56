import OpenAI from 'openai';
import type { RecordedRequest } from '../src/providers/testing/fake-upstream';
import { ollamaFake, type OllamaTags } from './fakes/ollama.fake';
import type { VendorFake } from './fakes/vendor-fake';
import { startApp, type TestApp, withModels } from './support/app';
import { contentOf, postJson, readSse } from './support/sse-client';
import { OLLAMA_CASES, TEST_KEY, TEST_TIMEOUTS, vendorLayer } from './support/vendors';
import { waitFor } from './support/wait';

/**
 * What the shared provider suite does not cover for Ollama: the exact /api/chat body of a whole conversation,
 * inputs Ollama cannot take, vendor headers, and model discovery from /api/tags through the real app.
 */

const OLLAMA = OLLAMA_CASES[0]!;

function chatRequests(fake: VendorFake): RecordedRequest[] {
  return fake.requests.filter((r) => r.method === 'POST' && r.path === '/api/chat');
}

function lastChat(fake: VendorFake): RecordedRequest {
  const request = chatRequests(fake).at(-1);
  if (!request) throw new Error('no /api/chat request reached the fake');
  return request;
}

async function modelIds(t: TestApp): Promise<string[]> {
  const list = (await (await fetch(`${t.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
  return list.data.map((m) => m.id);
}

interface ErrorBody {
  error: { code: string; type: string; message: string; param: string | null };
}

describe('Ollama: the upstream request through the router', () => {
  let fake: VendorFake;
  let t: TestApp;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await ollamaFake().start();
    t = await startApp(
      vendorLayer(OLLAMA, fake, { provider: { headers: { 'x-tenant': 'team-a' }, discovery_interval: 0 } }),
    );
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  it('sends a conversation with system prompts, an image, tools, a tool call and its result as Ollama wants it', async () => {
    fake.reply({ text: ['It is ', 'sunny.'], usage: { prompt: 120, completion: 3 } });
    const stream = await client.chat.completions.create({
      model: 'ollama/test-model',
      stream: true,
      messages: [
        { role: 'system', content: 'You are a weather bot.' },
        { role: 'developer', content: 'Answer in one sentence.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Where is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==' } },
            { type: 'text', text: 'And the weather there?' },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_abc',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_abc', content: '18°C and sunny' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather for a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ],
      tool_choice: 'auto',
      max_tokens: 200,
      temperature: 0.3,
      top_p: 0.9,
      stop: ['\n\n'],
      seed: 7,
      reasoning_effort: 'low',
      response_format: { type: 'json_object' },
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('It is sunny.');

    const request = lastChat(fake);
    expect(request.body).toEqual({
      model: 'qwen3:8b',
      stream: true,
      messages: [
        { role: 'system', content: 'You are a weather bot.' },
        { role: 'system', content: 'Answer in one sentence.' },
        {
          role: 'user',
          content: 'Where is this?\nAnd the weather there?',
          images: ['iVBORw0KGgoAAAANSUhEUg=='],
        },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris', unit: 'celsius' } } }],
        },
        { role: 'tool', content: '18°C and sunny', tool_name: 'get_weather' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather for a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ],
      options: { temperature: 0.3, top_p: 0.9, num_predict: 200, stop: ['\n\n'], seed: 7 },
      think: true,
      format: 'json',
    });
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      accept: 'application/x-ndjson',
      authorization: `Bearer ${TEST_KEY}`,
      'x-tenant': 'team-a',
    });
  });

  it('asks for a whole answer with stream:false, and a structured one with the JSON schema as format', async () => {
    fake.reply({ text: ['{"answer":42}'], usage: { prompt: 9, completion: 5 } });
    const schema = { type: 'object', properties: { answer: { type: 'number' } }, required: ['answer'] };
    const completion = await client.chat.completions.create({
      model: 'ollama/test-model',
      messages: [{ role: 'user', content: 'The answer?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
      reasoning_effort: 'none',
    });
    expect(completion.choices[0]?.message.content).toBe('{"answer":42}');
    expect(completion.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 });
    expect(lastChat(fake).body).toEqual({
      model: 'qwen3:8b',
      stream: false,
      messages: [{ role: 'user', content: 'The answer?' }],
      think: false,
      format: schema,
    });
    expect(lastChat(fake).headers.accept).toBe('application/json');
  });

  it('refuses an http(s) image URL with a 400 naming the field, without calling Ollama', async () => {
    for (const stream of [false, true]) {
      const response = await postJson(`${t.url}/v1/chat/completions`, {
        model: 'ollama/test-model',
        stream,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as ErrorBody;
      expect(body.error).toMatchObject({ code: 'bad_request', type: 'invalid_request_error' });
      expect(body.error.message).toContain('messages[0].content[1].image_url.url');
    }
    expect(chatRequests(fake)).toHaveLength(0);
  });

  it('refuses tool call arguments that are not a JSON object, naming the field', async () => {
    const response = await postJson(`${t.url}/v1/chat/completions`, {
      model: 'ollama/test-model',
      messages: [
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as ErrorBody;
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toContain('messages[1].tool_calls[0].function.arguments');
    expect(chatRequests(fake)).toHaveLength(0);
  });
});

describe('Ollama without a key', () => {
  let fake: VendorFake;
  let t: TestApp;

  beforeAll(async () => {
    fake = await ollamaFake().start();
    t = await startApp(vendorLayer(OLLAMA, fake, { apiKey: null, provider: { discovery_interval: 0 } }));
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('is listed and serves requests, sending no authorization header', async () => {
    expect(await modelIds(t)).toContain('ollama/test-model');
    fake.reply({ text: ['no key needed'], usage: { prompt: 1, completion: 3 } });
    const result = await readSse(
      await postJson(`${t.url}/v1/chat/completions`, {
        model: 'ollama/test-model',
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    );
    expect(contentOf(result)).toBe('no key needed');
    expect(lastChat(fake).headers).not.toHaveProperty('authorization');
    const tags = fake.requests.find((r) => r.path === '/api/tags');
    expect(tags?.headers).not.toHaveProperty('authorization');
  });
});

/** An Ollama provider discovering its models every 200 ms, serving any model name too. */
function discoveryLayer(fake: VendorFake) {
  return {
    providers: {
      ollama: {
        type: 'ollama',
        base_url: fake.url,
        discovery_interval: '200ms',
        allow_any_model: true,
        ...TEST_TIMEOUTS,
      },
    },
  };
}

/**
 * An Ollama fake listing `tags` and the app discovering from it, started before the describe's tests and closed
 * after them; `fake` and `t` are set once they run.
 */
function discoveringApp(tags: OllamaTags): { fake: VendorFake; t: TestApp } {
  const env = {} as { fake: VendorFake; t: TestApp };
  beforeAll(async () => {
    env.fake = await ollamaFake(tags).start();
    env.t = await startApp(discoveryLayer(env.fake));
  });
  afterAll(async () => {
    await env.t.close();
    await env.fake.close();
  });
  return env;
}

describe('Ollama model discovery through the real app', () => {
  const tags: OllamaTags = { models: ['llama3.2:latest', 'qwen3:8b'], fail: false };
  const env = discoveringApp(tags);

  it('lists the models Ollama has at boot, with :latest also reachable without the tag', async () => {
    const ids = await modelIds(env.t);
    expect(ids).toEqual(
      expect.arrayContaining(['ollama/llama3.2:latest', 'ollama/qwen3:8b', 'simulated/echo']),
    );
    const model = (await (await fetch(`${env.t.url}/v1/models/ollama/llama3.2`)).json()) as {
      id: string;
      owned_by: string;
      aliases: string[];
    };
    expect(model).toMatchObject({
      id: 'ollama/llama3.2:latest',
      owned_by: 'ollama',
      aliases: ['ollama/llama3.2'],
    });
  });

  it('streams from a discovered model, by its alias, sending the Ollama name upstream', async () => {
    // No scripted reply: discovery polls share the fake, so the fake's echo answers the chat request.
    const result = await readSse(
      await postJson(`${env.t.url}/v1/chat/completions`, {
        model: 'ollama/llama3.2',
        stream: true,
        messages: [{ role: 'user', content: 'echo me back' }],
      }),
    );
    expect(result.status).toBe(200);
    expect(contentOf(result)).toBe('echo me back');
    expect(result.events.at(-1)?.data).toBe('[DONE]');
    expect(lastChat(env.fake).body).toMatchObject({ model: 'llama3.2:latest', stream: true });
  });

  it('passes a model that is not in the list through as it is (allow_any_model)', async () => {
    const response = await postJson(`${env.t.url}/v1/chat/completions`, {
      model: 'ollama/mistral-nemo:12b',
      messages: [{ role: 'user', content: 'pass me through' }],
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      model: string;
      choices: Array<{ message: { content: string } }>;
    };
    expect(body.choices[0]?.message.content).toBe('pass me through');
    expect(lastChat(env.fake).body).toMatchObject({ model: 'mistral-nemo:12b', stream: false });
  });

  it('follows changes in the list at the next refresh', async () => {
    tags.models = ['qwen3:8b', 'gemma3:4b'];
    await waitFor('gemma3 to be listed and llama3.2 gone', async () => {
      const ids = await modelIds(env.t);
      return ids.includes('ollama/gemma3:4b') && !ids.includes('ollama/llama3.2:latest');
    });
    expect(await modelIds(env.t)).toContain('ollama/qwen3:8b');
  });
});

describe('Ollama down at boot', () => {
  const tags: OllamaTags = { models: ['phi4:latest'], fail: true };
  const env = discoveringApp(tags);

  it('boots without its models, and lists them once Ollama answers', async () => {
    expect(env.fake.requests.some((r) => r.path === '/api/tags')).toBe(true);
    const ids = await modelIds(env.t);
    expect(ids).toContain('simulated/echo');
    expect(ids).not.toContain('ollama/phi4:latest');
    tags.fail = false;
    await waitFor('phi4 to be listed', async () => (await modelIds(env.t)).includes('ollama/phi4:latest'));
  });
});

describe('Ollama without a base URL', () => {
  const ENV = 'CB_TEST_OLLAMA_BASE_URL_UNSET';
  let t: TestApp;

  beforeAll(async () => {
    delete process.env[ENV];
    t = await startApp(
      { providers: { ollama: { type: 'ollama', base_url_env: ENV, allow_any_model: true } } },
      withModels([], { id: 'ollama/test-model', provider: 'ollama', upstream: 'qwen3:8b' }),
    );
  });
  afterAll(() => t.close());

  it('lists none of its models', async () => {
    const ids = await modelIds(t);
    expect(ids).toContain('simulated/echo');
    expect(ids.filter((id) => id.startsWith('ollama/'))).toEqual([]);
  });

  it('answers a request for one of them with 401 provider_key_missing naming the base URL setting', async () => {
    for (const model of ['ollama/x', 'ollama/test-model']) {
      const response = await postJson(`${t.url}/v1/chat/completions`, {
        model,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as ErrorBody;
      expect(body.error.code).toBe('provider_key_missing');
      expect(body.error.message).toContain('providers.ollama.base_url');
      expect(body.error.message).toContain(ENV);
    }
  });
});
