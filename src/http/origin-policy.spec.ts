import { OriginPolicy } from './origin-policy';

describe('OriginPolicy', () => {
  const policy = new OriginPolicy({ origins: ['https://app.example.com'], max_age: 600_000 });

  it('tells listed, same-origin, absent and refused origins apart', () => {
    expect(policy.verdict({})).toBe('absent');
    expect(policy.verdict({ origin: 'https://APP.example.com' })).toBe('listed');
    expect(policy.verdict({ origin: 'http://localhost:3000', host: 'localhost:3000' })).toBe('same');
    expect(policy.verdict({ origin: 'https://evil.example', host: 'localhost:3000' })).toBe('refused');
    expect(policy.verdict({ origin: 'null' })).toBe('refused');
  });

  it("allows any origin without credentials with '*'", () => {
    const any = new OriginPolicy({ origins: ['*'], max_age: 0 });
    expect(any.verdict({ origin: 'https://elsewhere.example' })).toBe('any');
  });
});
