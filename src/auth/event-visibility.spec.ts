import { allowedEvents, eventVisibility } from './event-visibility';
import { OPEN_PRINCIPAL, type Principal } from '../contract/principal';

const user = (overrides: Partial<Principal> = {}): Principal => ({
  ...OPEN_PRINCIPAL,
  userId: 'alice',
  admin: false,
  anonymous: false,
  scope: 'own',
  ...overrides,
});

describe('event visibility', () => {
  it('costs nothing when everything is allowed', () => {
    expect(eventVisibility(OPEN_PRINCIPAL, true)).toBeUndefined();
    expect(eventVisibility(user({ scope: 'all' }), true)).toBeUndefined();
    expect(eventVisibility(user(), false)).toBeUndefined();
  });

  it("keeps an own-scoped viewer's events on shared streams, and the allowed types (terminal ones always)", () => {
    const mine = eventVisibility<{ type: string; owner?: string }>(user(), true)!;
    expect(mine({ type: 'token_created', owner: 'alice' })).toBe(true);
    expect(mine({ type: 'token_created', owner: 'bob' })).toBe(false);
    expect(mine({ type: 'token_created' })).toBe(false);
    const typed = eventVisibility<{ type: string }>(user({ eventTypes: new Set(['content_chunk']) }), false)!;
    expect(typed({ type: 'content_chunk' })).toBe(true);
    expect(typed({ type: 'thinking' })).toBe(false);
    expect(typed({ type: 'completed' })).toBe(true);
    expect(typed({ type: 'error' })).toBe(true);
    expect(typed({ type: 'workflow_completed' })).toBe(true);
  });

  it('drops events of types not allowed from a stream, keeping its identity', async () => {
    async function* events() {
      await Promise.resolve();
      yield { type: 'thinking' };
      yield { type: 'content_chunk' };
      yield { type: 'completed' };
    }
    const stream = Object.assign(events(), { completionId: 'c1' });
    const filtered = allowedEvents(stream, new Set(['content_chunk']));
    expect(filtered.completionId).toBe('c1');
    const seen: string[] = [];
    for await (const event of filtered) seen.push(event.type);
    expect(seen).toEqual(['content_chunk', 'completed']);
    expect(allowedEvents(stream, undefined)).toBe(stream);
  });
});
