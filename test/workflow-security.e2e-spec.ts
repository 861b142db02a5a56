import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logCollector, startAppWith, type TestApp } from './support/app';
import { bearer, jwtAuth, token } from './support/auth';
import { graphqlHttp } from './support/graphql-client';
import { describeProbe, probeDuring } from './support/probe';
import { freePort } from './support/redis';
import { postJson } from './support/sse-client';
import {
  createWorkflow,
  getRun,
  oneStep,
  runEvents,
  startRun,
  type WorkflowEventData,
} from './support/workflows';

/**
 * Issue 16, items 3 and 4, replayed through the public API: a guard pattern that backtracks, and webhooks
 * used to reach internal addresses, scan ports and read back what they answer or what another user's
 * definition sends.
 */

const ALICE = token({ sub: 'alice' });
const BOB = token({ sub: 'bob' });
const GENERIC = 'The webhook call failed.';
const REFUSED_TARGET =
  'must not point to a loopback, private, link-local, CGNAT, multicast, broadcast or reserved address (an operator can allow one in workflows.webhooks.allow)';
/** A definition's webhook headers: a secret that only its author may know. */
const SECRET = 'alice-webhook-secret-7f3a9c';
const API_KEY = 'alice-api-key-0b1c2d3e';

interface Seen {
  url: string;
  host: string;
}

/** The "internal service": answers with data nobody outside should read, and echoes the headers it got. */
async function internalService(): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', host: req.headers.host ?? '' });
      const json = (status: number, value: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      switch (req.url ?? '') {
        case '/ok':
          return json(200, {
            result: { summary: 'all good', score: 9 },
            internal: { provider_key: 'sk-live-CAPTURED-PROVIDER-KEY' },
          });
        case '/echo':
          return json(200, { headers: req.headers });
        case '/missing':
          return json(404, { error: 'no such page' });
        case '/slow':
          return; // never answers
        default:
          return json(500, { error: 'boom' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

async function refusalOf(
  app: TestApp,
  definition: unknown,
): Promise<{ status: number; error: { code: string; message: string; param?: string } }> {
  const res = await postJson(`${app.url}/v1/workflows`, definition, { headers: bearer(ALICE) });
  const body = (await res.json()) as { error: { code: string; message: string; param?: string } };
  return { status: res.status, error: body.error };
}

const webhook = (url: string, extra: Record<string, unknown> = {}) => ({ type: 'webhook', url, ...extra });

/** Runs a one-step definition as `who` and returns its last event and its state. */
async function runToEnd(app: TestApp, workflowId: string, who: string, input: Record<string, unknown> = {}) {
  const run = await startRun(app.url, workflowId, input, bearer(who));
  const { data } = await runEvents(app.url, run.runId, `?access_token=${who}`);
  const state = await getRun(app.url, run.runId, bearer(who));
  return { run, events: data, last: data.at(-1)!, state };
}

const errorIn = (event: WorkflowEventData) => event.data.error as { code: string; message: string };

describe('workflow security (issue 16: guard ReDoS, webhook SSRF)', () => {
  let hook: Awaited<ReturnType<typeof internalService>>;
  let closed: number;
  /** No allow list: the production default. */
  let strict: TestApp;
  const strictLog = logCollector();
  /** Loopback allowed explicitly (as an operator with an internal webhook would). */
  let allowing: TestApp;
  const allowingLog = logCollector();

  beforeAll(async () => {
    hook = await internalService();
    closed = await freePort();
    strict = await startAppWith({ logSink: strictLog.sink }, jwtAuth(), { server: { log_level: 'warn' } });
    allowing = await startAppWith({ logSink: allowingLog.sink }, jwtAuth(), {
      server: { log_level: 'warn' },
      workflows: { webhooks: { allow: ['127.0.0.1'] } },
    });
  });

  afterAll(async () => {
    await Promise.all([strict?.close(), allowing?.close()]);
    hook.server.closeAllConnections();
    await new Promise((resolve) => hook.server.close(resolve));
  });

  describe('guards', () => {
    /** Each false on the attack input, each exponential or high-polynomial on a backtracking engine. */
    const EVIL = [
      'a*a*a*a*a*b',
      '^(a+)+$',
      '^(a|a)*$',
      '(a|aa)+$',
      '^(.*a){20}$',
      '^(\\w+\\s?)*$',
      '((a*)*)*b',
      '(x+x+)+y',
      '^(([a-z])+.)+[A-Z]([a-z])+$',
    ];
    const anyEvil = { any: EVIL.map((value) => ({ field: 'text', op: 'matches', value })) };
    const evilNet = (id: string) => ({
      id,
      places: [
        { id: 'in', initial: true },
        { id: 'out', final: true },
      ],
      transitions: [
        { id: 'evil', inputs: ['in'], outputs: ['out'], guard: anyEvil },
        { id: 'fallback', inputs: ['in'], outputs: ['out'], guard: { not: anyEvil } },
      ],
    });

    it('accepts the evil patterns (RE2 runs them in linear time) and /health/live answers throughout', async () => {
      // Any user with the default permissions may create it.
      await createWorkflow(strict.url, evilNet('redos'), bearer(BOB));
      const text = `${'a'.repeat(19_999)}!`; // 20 000 characters; V8 needs ~0.8 s for 60 of them on the first
      const attackStarted = performance.now();
      const runs = await Promise.all(
        Array.from({ length: 10 }, () => startRun(strict.url, 'redos', { text }, bearer(BOB))),
      );
      const { result: ends, probe } = await probeDuring(strict.url, () =>
        Promise.all(runs.map((r) => runEvents(strict.url, r.runId, `?access_token=${BOB}`))),
      );
      const attackMs = performance.now() - attackStarted;
      const seen = describeProbe(
        `10 runs x ${EVIL.length * 2} evil guard tests on 20 000 characters (${attackMs.toFixed(0)} ms in all)`,
        probe,
      );
      expect(probe.failed).toBe(0);
      for (const { data } of ends) {
        // Every pattern was tested (none matched), so the fallback moved the token.
        expect(data.at(-1)!.type).toBe('WORKFLOW_COMPLETED');
        expect(data.find((e) => e.type === 'TOKEN_TRANSITIONED')!.data.transition).toBe('fallback');
      }
      console.log(seen);
    });

    it.each([
      ['(a)\\1', /backreferences/],
      ['(?<w>\\w+) \\k<w>', /backreferences/],
      ['a(?=b)', /lookahead and lookbehind/],
      ['(?<!a)b', /lookahead and lookbehind/],
      ['.{0,1000}x', /too complex/],
    ])('refuses %s with invalid_workflow naming the guard', async (pattern, reason) => {
      const definition = oneStep('bad-guard', undefined);
      (definition.transitions as Array<Record<string, unknown>>)[0]!.guard = {
        all: [{ field: 'text', op: 'matches', value: pattern }],
      };
      const { status, error } = await refusalOf(strict, definition);
      expect(status).toBe(400);
      expect(error.code).toBe('invalid_workflow');
      expect(error.param).toBe('transitions[0].guard.all[0].value');
      expect(error.message).toMatch(reason);
    });

    it('refuses one over GraphQL with extensions.code', async () => {
      const definition = oneStep('bad-guard-gql', undefined);
      (definition.transitions as Array<Record<string, unknown>>)[0]!.guard = {
        field: 'text',
        op: 'matches',
        value: '(a)\\1',
      };
      const reply = await graphqlHttp(
        strict.url,
        'mutation ($d: JSON!) { createWorkflow(definition: $d) { id } }',
        { d: definition },
        bearer(ALICE),
      );
      expect(reply.body.errors?.[0]?.extensions?.code).toBe('INVALID_WORKFLOW');
      expect(reply.body.errors?.[0]?.message).toMatch(/transitions\[0\]\.guard\.value: backreferences/);
    });
  });

  describe('webhook targets', () => {
    it.each([
      'http://127.0.0.1:PORT/ok',
      'http://127.1:PORT/ok',
      'http://0x7f000001:PORT/ok',
      'http://2130706433:PORT/ok',
      'http://0177.0.0.1:PORT/ok',
      'http://0.0.0.0:PORT/ok',
      'http://[::1]:PORT/ok',
      'http://[::]:PORT/ok',
      'http://[::ffff:127.0.0.1]:PORT/ok',
      'http://[::ffff:7f00:1]:PORT/ok',
      'http://[64:ff9b::7f00:1]:PORT/ok',
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://[::ffff:169.254.169.254]/latest/meta-data/',
      'http://10.0.0.1/',
      'http://172.16.0.1/',
      'http://192.168.0.1/',
      'http://100.64.0.1/',
      'http://224.0.0.1/',
      'http://255.255.255.255/',
      'http://[fd00::1]/',
      'http://[fe80::1]/',
    ])('refuses %s at definition time, with the one message', async (url) => {
      const { status, error } = await refusalOf(
        strict,
        oneStep('ssrf', webhook(url.replace('PORT', String(hook.port)))),
      );
      expect(status).toBe(400);
      expect(error).toMatchObject({
        code: 'invalid_workflow',
        param: 'transitions[0].action.url',
        message: `Invalid workflow definition: transitions[0].action.url: ${REFUSED_TARGET}`,
      });
    });

    it.each([
      [
        'https://user:pass@hooks.example.com/x',
        'must not carry credentials (user:password@); send them in headers',
      ],
      ['ftp://hooks.example.com/x', 'must be an absolute http: or https: URL'],
      ['file:///etc/passwd', 'must be an absolute http: or https: URL'],
    ])('refuses %s', async (url, message) => {
      const { status, error } = await refusalOf(strict, oneStep('ssrf', webhook(url)));
      expect([status, error.param, error.message]).toEqual([
        400,
        'transitions[0].action.url',
        `Invalid workflow definition: transitions[0].action.url: ${message}`,
      ]);
    });

    it('refuses a hostname that resolves to loopback when the run calls it; nothing is sent', async () => {
      const before = hook.seen.length;
      // `localhost` resolves from the hosts file (no DNS server is asked); LOCALHOST is the same name.
      for (const [id, host] of [
        ['to-localhost', 'localhost'],
        ['to-localhost-upper', 'LOCALHOST'],
      ] as const) {
        await createWorkflow(
          strict.url,
          oneStep(id, webhook(`http://${host}:${hook.port}/ok`), 'notify'),
          bearer(ALICE),
        );
        const { last, state } = await runToEnd(strict, id, ALICE);
        expect(last.type).toBe('ERROR');
        expect(errorIn(last)).toEqual({
          code: 'webhook_failed',
          message: GENERIC,
          retryable: true,
          transition: 'notify',
        });
        expect(state.error?.message).toBe(GENERIC);
      }
      expect(hook.seen.length).toBe(before);
      // The operator's log says why; the run does not.
      const logged = strictLog.lines.filter((l) => l.msg === 'webhook call failed');
      expect(logged.map((l) => l.reason)).toEqual([
        'refused: localhost resolved to a loopback address (127.0.0.1)',
        'refused: localhost resolved to a loopback address (127.0.0.1)',
      ]);
    });
  });

  describe('webhooks allowed to reach loopback', () => {
    it('calls it and keeps only the mapped fields; without a mapping, only status and duration', async () => {
      await createWorkflow(
        allowing.url,
        oneStep(
          'mapped',
          webhook(`http://127.0.0.1:${hook.port}/ok`, {
            response: { fields: { summary: 'result.summary' } },
          }),
          'notify',
        ),
        bearer(ALICE),
      );
      const mapped = await runToEnd(allowing, 'mapped', ALICE, { topic: 'x' });
      expect(mapped.last.type).toBe('WORKFLOW_COMPLETED');
      expect(mapped.state.output).toEqual({ topic: 'x', summary: 'all good' });
      const executed = mapped.events.find((e) => e.type === 'FUNCTION_EXECUTED')!;
      expect(executed.data).toMatchObject({
        function: 'webhook',
        status: 200,
        token_data: { topic: 'x', summary: 'all good' },
      });
      expect(executed.data.duration_ms).toEqual(expect.any(Number));

      await createWorkflow(
        allowing.url,
        oneStep('unmapped', webhook(`http://127.0.0.1:${hook.port}/ok`), 'notify'),
        bearer(ALICE),
      );
      const unmapped = await runToEnd(allowing, 'unmapped', ALICE, { topic: 'y' });
      expect(unmapped.state.output).toEqual({ topic: 'y' });
      for (const run of [mapped, unmapped]) {
        expect(JSON.stringify([run.events, run.state])).not.toContain('CAPTURED-PROVIDER-KEY');
      }
    });

    it('fails a 404, a 500, a closed port and a timeout alike, as a refused address does (no port scanning)', async () => {
      const targets: Array<[string, string, Record<string, unknown>]> = [
        ['scan-404', `http://127.0.0.1:${hook.port}/missing`, {}],
        ['scan-500', `http://127.0.0.1:${hook.port}/fail`, {}],
        ['scan-closed', `http://127.0.0.1:${closed}/`, {}],
        ['scan-slow', `http://127.0.0.1:${hook.port}/slow`, { timeout: '300ms' }],
      ];
      const errors: unknown[] = [];
      for (const [id, url, extra] of targets) {
        await createWorkflow(allowing.url, oneStep(id, webhook(url, extra), 'notify'), bearer(ALICE));
        const { last, state } = await runToEnd(allowing, id, ALICE);
        errors.push(errorIn(last), state.error);
      }
      expect(new Set(errors.map((e) => JSON.stringify(e)))).toEqual(
        new Set([
          JSON.stringify({ code: 'webhook_failed', message: GENERIC, retryable: true, transition: 'notify' }),
        ]),
      );
      const reasons = allowingLog.lines.filter((l) => l.msg === 'webhook call failed').map((l) => l.reason);
      expect(reasons).toEqual([
        'answered HTTP 404',
        'answered HTTP 500',
        'could not be reached (ECONNREFUSED)',
        'timed out after 300 ms',
      ]);
    });

    it("never shows a shared definition's header values to another user who runs it", async () => {
      const headers = { Authorization: `Bearer ${SECRET}`, 'X-Api-Key': API_KEY };
      await createWorkflow(
        allowing.url,
        oneStep(
          'shared-echo',
          webhook(`http://127.0.0.1:${hook.port}/echo`, {
            headers,
            response: { fields: { echoed: 'headers' } },
          }),
          'notify',
        ),
        bearer(ALICE),
      );
      await createWorkflow(
        allowing.url,
        oneStep('shared-fail', webhook(`http://127.0.0.1:${hook.port}/missing`, { headers }), 'notify'),
        bearer(ALICE),
      );
      const echoed = await runToEnd(allowing, 'shared-echo', BOB);
      const failed = await runToEnd(allowing, 'shared-fail', BOB);
      expect(echoed.state.output?.echoed).toMatchObject({ authorization: '***', 'x-api-key': '***' });
      expect(errorIn(failed.last).message).toBe(GENERIC);

      const shown = [
        await (await fetch(`${allowing.url}/v1/workflows/shared-echo`, { headers: bearer(BOB) })).text(),
        await (await fetch(`${allowing.url}/v1/workflows`, { headers: bearer(BOB) })).text(),
        JSON.stringify(
          await graphqlHttp(
            allowing.url,
            '{ workflow(id: "shared-echo") { definition } workflows { definition } }',
            undefined,
            bearer(BOB),
          ),
        ),
        JSON.stringify(
          await graphqlHttp(
            allowing.url,
            'query ($r: ID!) { workflowRun(runId: $r) { output marking error { message } } }',
            { r: failed.run.runId },
            bearer(BOB),
          ),
        ),
        JSON.stringify([echoed.events, echoed.state, failed.events, failed.state, echoed.run, failed.run]),
      ];
      expect(shown[0]).toContain('"Authorization":"***"');
      for (const text of shown) {
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(API_KEY);
      }
      // Nor does the operator's log hold them.
      expect(JSON.stringify(allowingLog.lines)).not.toContain(SECRET);
      expect(JSON.stringify(allowingLog.lines)).not.toContain(API_KEY);
    });
  });
});
