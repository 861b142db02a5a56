import { CircuitBreakerService, type CircuitTransition } from '../src/routing/circuit-breaker.service';
import { startApp, type TestApp } from './support/app';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { waitFor } from './support/wait';
import { bearer, jwtAuth, token } from './support/auth';

const ADMIN = bearer(token({ sub: 'operator', roles: ['admin'] }));

/** Two nodes sharing one Redis prefix: what one learns about a circuit, the other sees. */
describe('circuits shared between nodes, and /admin/circuits', () => {
  const prefix = testPrefix();
  let a: TestApp;
  let b: TestApp;
  let breakerA: CircuitBreakerService;
  let breakerB: CircuitBreakerService;

  beforeAll(async () => {
    const layer = {
      ...jwtAuth(),
      redis: { key_prefix: prefix },
      streaming: {
        error_handling: {
          circuit_breaker_threshold: 50,
          circuit_breaker_window: '10s',
          circuit_breaker_min_requests: 2,
          circuit_breaker_cool_down: '1s',
          circuit_breaker_half_open_trials: 1,
        },
      },
    };
    a = await startApp(layer);
    b = await startApp(layer);
    breakerA = a.app.get(CircuitBreakerService);
    breakerB = b.app.get(CircuitBreakerService);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deleteKeys(prefix);
  });

  const get = (app: TestApp, path: string, headers: Record<string, string> = ADMIN) =>
    fetch(`${app.url}${path}`, { headers });
  const post = (app: TestApp, path: string, body: unknown, headers: Record<string, string> = ADMIN) =>
    fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  async function circuitsOn(app: TestApp, query = ''): Promise<Array<Record<string, unknown>>> {
    const res = await get(app, `/admin/circuits${query}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: Array<Record<string, unknown>> }).data;
  }

  it('opens on one node and is seen open by the other, then half-open after the cool-down', async () => {
    const model = 'test/circuit-1';
    const heard: CircuitTransition[] = [];
    const unsubscribe = breakerB.onTransition((t) => heard.push(t));
    await breakerA.record('simulated', model, false, false);
    await breakerA.record('simulated', model, false, false);

    const [seen] = (await circuitsOn(b, '?state=open')).filter((c) => c.model === model);
    expect(seen).toEqual({
      provider: 'simulated',
      model,
      state: 'open',
      requests: 2,
      failures: 2,
      errorRate: 100,
      openedAt: expect.any(String),
      retryAt: expect.any(String),
      trialsInFlight: 0,
    });
    expect((await circuitsOn(b, '?state=closed')).some((c) => c.model === model)).toBe(false);
    await waitFor('node b to hear of it', () => heard.some((t) => t.model === model && t.to === 'open'));
    expect(breakerB.isOpen('simulated', model)).toBe(true);
    unsubscribe();

    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toContain(`cb_circuit_state{provider="simulated",model="${model}"} 2`);
    // Both apps share this process's registry: one count means only the node that opened it counted it.
    expect(metrics).toContain(
      `cb_circuit_transitions_total{provider="simulated",model="${model}",to="open"} 1`,
    );

    await waitFor('the cool-down to end', async () =>
      (await circuitsOn(b)).some((c) => c.model === model && c.state === 'half_open'),
    );
    expect(breakerB.isOpen('simulated', model)).toBe(false);
    expect(await breakerB.admit('simulated', model)).toEqual({
      allowed: true,
      trial: true,
      state: 'half_open',
    });
    // Node a estimates Redis's clock; under load its estimate may lag the cool-down's end by a few ms.
    await waitFor('node a to see the cool-down end', () => !breakerA.isOpen('simulated', model));
    expect(await breakerA.admit('simulated', model)).toMatchObject({ allowed: false, state: 'half_open' });
    expect((await circuitsOn(a)).find((c) => c.model === model)).toMatchObject({ trialsInFlight: 1 });
    await breakerB.record('simulated', model, true, true);
    expect((await circuitsOn(a)).find((c) => c.model === model)).toMatchObject({
      state: 'closed',
      requests: 0,
    });
    await waitFor('node a to hear it closed', async () => {
      const admission = await breakerA.admit('simulated', model);
      return admission.allowed && admission.state === 'closed';
    });
  });

  it('resets a circuit through the admin API on any node', async () => {
    const model = 'test/circuit-2';
    const heard: CircuitTransition[] = [];
    const unsubscribe = breakerA.onTransition((t) => heard.push(t));
    await breakerA.record('simulated', model, false, false);
    await breakerA.record('simulated', model, false, false);
    expect(breakerA.isOpen('simulated', model)).toBe(true);

    const res = await post(b, '/admin/circuits/reset', { provider: 'simulated', model });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      data: {
        provider: 'simulated',
        model,
        state: 'closed',
        requests: 0,
        failures: 0,
        errorRate: 0,
        trialsInFlight: 0,
      },
    });
    await waitFor('node a to hear of the reset', () =>
      heard.some((t) => t.model === model && t.to === 'closed'),
    );
    unsubscribe();
    expect(heard.find((t) => t.to === 'closed')).toMatchObject({ from: 'open', to: 'closed' });
    // Neither refused (open) nor a trial (half-open): closed, with an empty window.
    expect(await breakerA.admit('simulated', model)).toEqual({
      allowed: true,
      trial: false,
      state: 'closed',
    });
    expect((await circuitsOn(a)).find((c) => c.model === model)).toMatchObject({
      state: 'closed',
      requests: 0,
    });
  });

  it('rejects bad input with 400 and unknown circuits with 404, as OpenAI error JSON', async () => {
    const cases: Array<[unknown, string | null]> = [
      [{ provider: 'simulated' }, 'model'],
      [{ provider: '', model: 'm' }, 'provider'],
      [['simulated', 'm'], null],
    ];
    for (const [body, param] of cases) {
      const res = await post(a, '/admin/circuits/reset', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: { message: expect.any(String), type: 'invalid_request_error', param, code: 'invalid_request' },
      });
    }
    const badState = await get(a, '/admin/circuits?state=ajar');
    expect(badState.status).toBe(400);
    expect(await badState.json()).toMatchObject({ error: { code: 'invalid_request', param: 'state' } });

    const unknown = await post(a, '/admin/circuits/reset', {
      provider: 'simulated',
      model: 'test/never-seen',
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      error: { code: 'not_found', type: 'invalid_request_error' },
    });
  });

  it('wants the admin role', async () => {
    const refused: Array<[Record<string, string>, number, string]> = [
      [{}, 401, 'unauthorized'],
      [{ authorization: 'Bearer y' }, 401, 'unauthorized'],
      [bearer(token({ sub: 'someone' })), 403, 'forbidden'],
    ];
    for (const [headers, status, code] of refused) {
      const listed = await get(a, '/admin/circuits', headers);
      expect(listed.status).toBe(status);
      expect(await listed.json()).toEqual({
        error: {
          message: expect.any(String),
          type: status === 401 ? 'authentication_error' : 'permission_error',
          param: null,
          code,
        },
      });
      const reset = await post(a, '/admin/circuits/reset', { provider: 'simulated', model: 'x' }, headers);
      expect(reset.status).toBe(status);
    }
  });
});
