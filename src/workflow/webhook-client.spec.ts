import { freePort } from '../common/testing/free-port';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AddressAllowList } from '../common/net/address-allow-list';
import { WEBHOOK_FAILED, WebhookClient, WebhookError } from './webhook-client';
import type { HostLookup } from './webhook-target';
import type { WebhookAction } from './workflow-definition';

interface Seen {
  url: string;
  host: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A loopback webhook: answers by path; records what reached it. */
function hookServer(): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({
        url: req.url ?? '',
        host: req.headers.host ?? '',
        headers: req.headers,
        body: JSON.parse(body),
      });
      const json = (status: number, value: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      switch (req.url ?? '') {
        case '/ok':
          return json(200, {
            result: { summary: 'fine', score: 7 },
            internal: { key: 'sk-live-provider-key' },
            echo: { authorization: req.headers.authorization, token: req.headers['x-token'] },
          });
        case '/missing':
          return json(404, { error: 'no such thing' });
        case '/redirect':
          return res.writeHead(302, { location: '/ok' }).end();
        case '/text':
          return res.writeHead(200, { 'content-type': 'text/plain' }).end('not json');
        case '/big':
          return res.writeHead(200).end('x'.repeat(4096));
        case '/slow':
          return; // never answers
        default:
          return json(500, {});
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as AddressInfo).port, seen }),
    ),
  );
}

const action = (url: string, extra: Partial<WebhookAction> = {}): WebhookAction => ({
  type: 'webhook',
  url,
  method: 'POST',
  headers: {},
  timeoutMs: 2_000,
  ...extra,
});
const CALL = { workflowId: 'wf', runId: 'run_1', transition: 'notify', data: { a: 1 } };

async function failureOf(promise: Promise<unknown>): Promise<WebhookError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof WebhookError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('WebhookClient', () => {
  let hook: Awaited<ReturnType<typeof hookServer>>;
  let closedPort: number;
  const lookups: string[] = [];
  /** `hooks.test` is the loopback fake; `rebind.test` answers loopback once, then a private address. */
  let rebinds = 0;
  const lookup: HostLookup = (hostname) => {
    lookups.push(hostname);
    if (hostname === 'hooks.test') return Promise.resolve([{ address: '127.0.0.1' }]);
    if (hostname === 'rebind.test')
      return Promise.resolve([{ address: rebinds++ === 0 ? '127.0.0.1' : '10.0.0.1' }]);
    return Promise.reject(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }));
  };
  const open = new WebhookClient({
    allow: new AddressAllowList(['127.0.0.1']),
    maxResponseBytes: 1024,
    lookup,
  });
  const strict = new WebhookClient({ allow: new AddressAllowList([]), maxResponseBytes: 1024, lookup });
  const signal = new AbortController().signal;

  beforeAll(async () => {
    hook = await hookServer();
    closedPort = await freePort();
  });

  afterAll(async () => {
    await Promise.all([open.close(), strict.close()]);
    hook.server.closeAllConnections();
    await new Promise((resolve) => hook.server.close(resolve));
  });

  beforeEach(() => {
    hook.seen.length = 0;
    lookups.length = 0;
  });

  it('without a mapping, records the status and keeps the data as it was', async () => {
    const result = await open.call(action(`http://127.0.0.1:${hook.port}/ok`), CALL, signal);
    expect(result).toEqual({ data: { a: 1 }, status: 200, durationMs: expect.any(Number) as number });
    expect(hook.seen).toMatchObject([{ url: '/ok', body: CALL }]);
    // An answer that is not JSON is fine when nothing is read from it.
    await expect(
      open.call(action(`http://127.0.0.1:${hook.port}/text`), CALL, signal),
    ).resolves.toMatchObject({
      data: { a: 1 },
    });
  });

  it('adds only the mapped fields, with header values masked', async () => {
    const result = await open.call(
      action(`http://127.0.0.1:${hook.port}/ok`, {
        headers: { Authorization: 'Bearer tok-abcdefgh-1234', 'X-Token': 'short' },
        response: { fields: { summary: 'result.summary', echoed: 'echo', nothing: 'result.none' } },
      }),
      CALL,
      signal,
    );
    expect(result.data).toEqual({ a: 1, summary: 'fine', echoed: { authorization: '***', token: 'short' } });
    expect(JSON.stringify(result)).not.toContain('sk-live');
    expect(hook.seen[0]!.headers.authorization).toBe('Bearer tok-abcdefgh-1234');
  });

  it('connects a name to the address it checked, with the name as Host', async () => {
    await open.call(action(`http://hooks.test:${hook.port}/ok`), CALL, signal);
    expect(hook.seen.map((s) => s.host)).toEqual([`hooks.test:${hook.port}`]);
    expect(lookups).toEqual(['hooks.test']);
  });

  it('checks every new connection: a name that rebinds to a refused address is refused', async () => {
    const first = new WebhookClient({
      allow: new AddressAllowList(['127.0.0.1']),
      maxResponseBytes: 1024,
      lookup,
    });
    try {
      await first.call(action(`http://rebind.test:${hook.port}/ok`), CALL, signal);
      expect(hook.seen).toHaveLength(1);
    } finally {
      await first.close();
    }
    const second = new WebhookClient({
      allow: new AddressAllowList(['127.0.0.1']),
      maxResponseBytes: 1024,
      lookup,
    });
    try {
      const error = await failureOf(second.call(action(`http://rebind.test:${hook.port}/ok`), CALL, signal));
      expect(error.detail).toBe('refused: rebind.test resolved to a private address (10.0.0.1)');
      expect(hook.seen).toHaveLength(1);
    } finally {
      await second.close();
    }
  });

  it('fails every way with the same message; the detail is for the log', async () => {
    const base = `http://127.0.0.1:${hook.port}`;
    const cases: Array<[WebhookClient, WebhookAction, string | RegExp]> = [
      [
        strict,
        action(`${base}/ok`),
        'url refused: ' +
          'must not point to a loopback, private, link-local, CGNAT, multicast, broadcast or reserved address (an operator can allow one in workflows.webhooks.allow)',
      ],
      [
        strict,
        action(`http://hooks.test:${hook.port}/ok`),
        'refused: hooks.test resolved to a loopback address (127.0.0.1)',
      ],
      [
        strict,
        action(`http://nowhere.test:${hook.port}/ok`),
        'refused: nowhere.test did not resolve (ENOTFOUND)',
      ],
      [open, action(`http://u:p@127.0.0.1:${hook.port}/ok`), /^url refused: must not carry credentials/],
      [open, action(`${base}/missing`), 'answered HTTP 404'],
      [open, action(`${base}/redirect`), 'answered HTTP 302'],
      [open, action(`${base}/fail`), 'answered HTTP 500'],
      [open, action(`http://127.0.0.1:${closedPort}/ok`), 'could not be reached (ECONNREFUSED)'],
      [open, action(`${base}/big`), 'the answer is over 1024 bytes'],
      [open, action(`${base}/text`, { response: { fields: { x: 'x' } } }), 'the answer is not JSON'],
      [open, action(`${base}/slow`, { timeoutMs: 200 }), 'timed out after 200 ms'],
    ];
    for (const [client, hookAction, detail] of cases) {
      const error = await failureOf(client.call(hookAction, CALL, signal));
      expect(error.message).toBe(WEBHOOK_FAILED);
      expect(error.detail).toEqual(typeof detail === 'string' ? detail : expect.stringMatching(detail));
    }
    // Refused targets were never sent anything; the redirect was not followed.
    expect(hook.seen.map((s) => s.url)).toEqual(['/missing', '/redirect', '/fail', '/big', '/text', '/slow']);
  });

  it('ends with the run', async () => {
    const run = new AbortController();
    const calling = failureOf(open.call(action(`http://127.0.0.1:${hook.port}/slow`), CALL, run.signal));
    run.abort();
    expect((await calling).detail).toBe('aborted with the run');
  });
});
