import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth';

/** `[[[...]]]` nested `levels` deep, built without recursion. */
function nested(levels: number, wrap: (inner: unknown) => unknown): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = wrap(value);
  return value;
}

describe('nestsDeeperThan', () => {
  it('counts a scalar as 0 and each object or array as one level', () => {
    expect(nestsDeeperThan('x', 0)).toBe(false);
    expect(nestsDeeperThan(null, 0)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
    expect(nestsDeeperThan({}, 1)).toBe(false);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 2)).toBe(true);
  });

  it('accepts exactly the limit and refuses one more, for arrays and objects', () => {
    for (const wrap of [(v: unknown) => [v], (v: unknown) => ({ k: v })]) {
      expect(nestsDeeperThan(nested(MAX_JSON_DEPTH, wrap))).toBe(false);
      expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1, wrap))).toBe(true);
    }
  });

  it('finds a deep branch beside wide shallow ones', () => {
    const wide = Array.from({ length: 1000 }, (_, i) => ({ i }));
    expect(nestsDeeperThan({ wide, deep: nested(100, (v) => [v]) })).toBe(true);
    expect(nestsDeeperThan({ wide })).toBe(false);
  });

  it('handles a value nested 100,000 levels without overflowing the stack', () => {
    expect(nestsDeeperThan(JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`))).toBe(true);
  });
});
