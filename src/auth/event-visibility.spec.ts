import { allowedTypes, eventVisibility } from './event-visibility';
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

  it('drops events of types not allowed, keeping terminal ones; nothing to filter when all are allowed', () => {
    const events = [{ type: 'thinking' }, { type: 'content_chunk' }, { type: 'completed' }];
    const accept = allowedTypes<{ type: string }>(new Set(['content_chunk']))!;
    expect(events.filter(accept).map((e) => e.type)).toEqual(['content_chunk', 'completed']);
    expect(allowedTypes(undefined)).toBeUndefined();
  });
});
