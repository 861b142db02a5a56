import OpenAI from 'openai';
import { postJson } from './support/sse-client';
import { startApp, type TestApp } from './support/app';

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function expectError(
  res: Response,
  status: number,
  code: string,
  param: string | null,
  message: RegExp,
) {
  const body = (await res.json()) as ErrorBody;
  expect({ status: res.status, contentType: res.headers.get('content-type'), body }).toEqual({
    status,
    contentType: 'application/json; charset=utf-8',
    body: { error: { message: expect.stringMatching(message), type: expect.any(String), param, code } },
  });
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
}

describe('bad input gets OpenAI-style errors', () => {
  let t: TestApp;
  const url = () => `${t.url}/v1/chat/completions`;
  const ok = { model: 'simulated/echo', messages: [{ role: 'user', content: 'hi' }] };

  beforeAll(async () => {
    t = await startApp({ server: { body_limit: '64KB' } });
  });
  afterAll(() => t.close());

  it('malformed JSON -> 400', async () => {
    await expectError(
      await postJson(url(), '{"model": "simulated/echo", '),
      400,
      'invalid_request',
      null,
      /not valid JSON/,
    );
  });

  it('a JSON body that is not an object -> 400', async () => {
    await expectError(await postJson(url(), '[1,2]'), 400, 'invalid_request', null, /JSON object/);
  });

  it('an empty body -> 400', async () => {
    await expectError(await postJson(url(), ''), 400, 'invalid_request', null, /empty|JSON/i);
  });

  it('a body that is not JSON at all -> 415', async () => {
    const res = await fetch(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<a/>',
    });
    await expectError(res, 415, 'unsupported_media_type', null, /application\/json/);
  });

  it.each([
    ['missing model', { messages: ok.messages }, 'model'],
    ['mistyped model', { ...ok, model: ['a'] }, 'model'],
    ['missing messages', { model: ok.model }, 'messages'],
    ['messages not an array', { ...ok, messages: { role: 'user' } }, 'messages'],
    ['a bad role', { ...ok, messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ['content missing', { ...ok, messages: [{ role: 'user' }] }, 'messages[0].content'],
    ['temperature mistyped', { ...ok, temperature: 'warm' }, 'temperature'],
    ['stream mistyped', { ...ok, stream: 'true' }, 'stream'],
    ['max_tokens negative', { ...ok, max_tokens: -5 }, 'max_tokens'],
    ['tools malformed', { ...ok, tools: [{ type: 'function' }] }, 'tools[0].function'],
  ])('%s -> 400 naming the param', async (_name, body, param) => {
    await expectError(
      await postJson(url(), body),
      400,
      'invalid_request',
      param,
      new RegExp(`^Invalid '${param.replace(/[[\]]/g, '\\$&')}'`),
    );
  });

  it('n > 1 -> 400 unsupported_value', async () => {
    await expectError(
      await postJson(url(), { ...ok, n: 2 }),
      400,
      'unsupported_value',
      'n',
      /n > 1 is not supported/,
    );
  });

  it('an unknown model -> 404 model_not_found, for streaming requests too', async () => {
    await expectError(
      await postJson(url(), { ...ok, model: 'acme/ghost' }),
      404,
      'model_not_found',
      'model',
      /acme\/ghost/,
    );
    await expectError(
      await postJson(url(), { ...ok, model: 'acme/ghost', stream: true }),
      404,
      'model_not_found',
      'model',
      /does not exist/,
    );
  });

  it('a body over the configured limit -> 413', async () => {
    const big = { ...ok, messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }] };
    await expectError(await postJson(url(), big), 413, 'request_too_large', null, /too large/);
  });

  it('the GET form with malformed messages -> 400 naming messages', async () => {
    const get = (query: string) => fetch(`${url()}/stream?${query}`);
    await expectError(
      await get('model=simulated/echo&messages=%5Bnot-json'),
      400,
      'invalid_request',
      'messages',
      /URL-encoded JSON/,
    );
    await expectError(await get('model=simulated/echo'), 400, 'invalid_request', 'messages', /messages/);
    await expectError(
      await get(`model=simulated/echo&messages=${encodeURIComponent('[{"role":"user"}]')}`),
      400,
      'invalid_request',
      'messages[0].content',
      /required/,
    );
    await expectError(
      await get(`model=simulated/echo&messages=${encodeURIComponent('{"role":"user"}')}`),
      400,
      'invalid_request',
      'messages',
      /array/,
    );
    await expectError(
      await get(`messages=${encodeURIComponent(JSON.stringify(ok.messages))}`),
      400,
      'invalid_request',
      'model',
      /model/,
    );
    await expectError(
      await get(
        `model=simulated/echo&temperature=hot&messages=${encodeURIComponent(JSON.stringify(ok.messages))}`,
      ),
      400,
      'invalid_request',
      'temperature',
      /number/,
    );
    await expectError(
      await get(`model=a&model=b&messages=${encodeURIComponent(JSON.stringify(ok.messages))}`),
      400,
      'invalid_request',
      'model',
      /more than once/,
    );
    await expectError(
      await get(`model=acme/ghost&messages=${encodeURIComponent(JSON.stringify(ok.messages))}`),
      404,
      'model_not_found',
      'model',
      /acme\/ghost/,
    );
  });

  it('unknown routes -> 404 in the same shape, without echoing the query', async () => {
    const res = await fetch(`${t.url}/v1/nothing-here?secret=shh`);
    await expectError(res, 404, 'not_found', null, /^Unknown route: GET \/v1\/nothing-here$/);
    await expectError(
      await postJson(`${t.url}/v2/chat/completions`, ok),
      404,
      'not_found',
      null,
      /Unknown route: POST/,
    );
  });

  it('the openai SDK surfaces these errors as APIError with status, code and param', async () => {
    const openai = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await expect(
      openai.chat.completions.create({
        model: 'simulated/echo',
        messages: [{ role: 'user', content: 'hi' }],
        n: 3,
      }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'unsupported_value',
      param: 'n',
      type: 'invalid_request_error',
    });
  });
});
