import { RequestErrorCode } from '../contract/error-code';
import { AuthConfig, RateLimitsConfig, RateLimitTier } from '../config/app-config';
import { AuthError } from './auth.error';
import { principalFromClaims } from './claims';
import { can, type Principal } from '../contract/principal';

function tier(requests_per_minute: number, concurrent_streams: number): RateLimitTier {
  return Object.assign(new RateLimitTier(), { requests_per_minute, concurrent_streams });
}

function authConfig(patch: Partial<AuthConfig> = {}): AuthConfig {
  const rate_limits = Object.assign(new RateLimitsConfig(), {
    tiers: new Map([
      ['default', tier(600, 20)],
      ['pro', tier(6000, 200)],
    ]),
  });
  return Object.assign(new AuthConfig(), {
    mode: 'jwt',
    default_permissions: ['completion:read', 'completion:write'],
    rate_limits,
    ...patch,
  });
}

function grants(p: Principal): string[] {
  const out: string[] = [];
  for (const [type, access] of Object.entries(p.permissions)) {
    if (access.read) out.push(`${type}:read`);
    if (access.write) out.push(`${type}:write`);
  }
  return out;
}

function unauthorized(fn: () => unknown): AuthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).code).toBe(RequestErrorCode.Unauthorized);
    return err as AuthError;
  }
  throw new Error('expected an AuthError');
}

describe('principalFromClaims', () => {
  const auth = authConfig();

  describe('user id', () => {
    it('comes from sub', () => {
      expect(principalFromClaims({ sub: 'user-1' }, auth).userId).toBe('user-1');
    });

    it('comes from the configured claim', () => {
      const custom = authConfig();
      custom.claims.user_id = 'uid';
      expect(principalFromClaims({ sub: 'x', uid: 'u-7' }, custom).userId).toBe('u-7');
    });

    it.each([
      ['missing', {}],
      ['empty', { sub: '' }],
      ['not a string', { sub: 42 }],
      ['longer than 256 characters', { sub: 'a'.repeat(257) }],
    ])('is refused when %s', (_, claims) => {
      expect(unauthorized(() => principalFromClaims(claims, auth)).message).toBe(
        'The token has no user id (sub).',
      );
    });

    it('may be 256 characters long', () => {
      expect(principalFromClaims({ sub: 'a'.repeat(256) }, auth).userId).toHaveLength(256);
    });
  });

  describe('permissions', () => {
    it('reads an array', () => {
      const p = principalFromClaims({ sub: 'u', permissions: ['workflow:read', 'agent:write'] }, auth);
      expect(grants(p)).toEqual(['workflow:read', 'agent:write']);
    });

    it('reads a space-separated string', () => {
      const p = principalFromClaims({ sub: 'u', permissions: ' workflow:read  agent:write ' }, auth);
      expect(grants(p)).toEqual(['workflow:read', 'agent:write']);
    });

    it('expands wildcards', () => {
      expect(grants(principalFromClaims({ sub: 'u', permissions: ['*'] }, auth))).toHaveLength(8);
      expect(grants(principalFromClaims({ sub: 'u', permissions: ['*:read'] }, auth))).toEqual([
        'completion:read',
        'workflow:read',
        'agent:read',
        'system:read',
      ]);
      expect(grants(principalFromClaims({ sub: 'u', permissions: ['*:write'] }, auth))).toEqual([
        'completion:write',
        'workflow:write',
        'agent:write',
        'system:write',
      ]);
      expect(grants(principalFromClaims({ sub: 'u', permissions: ['agent:*'] }, auth))).toEqual([
        'agent:read',
        'agent:write',
      ]);
      expect(grants(principalFromClaims({ sub: 'u', permissions: ['system'] }, auth))).toEqual([
        'system:read',
        'system:write',
      ]);
    });

    it('ignores entries that are not permissions of ours', () => {
      const p = principalFromClaims(
        { sub: 'u', permissions: ['openid', 'files:read', '*:*', 'completion:delete', 'agent:read'] },
        auth,
      );
      expect(grants(p)).toEqual(['agent:read']);
    });

    it('grants nothing when the claim is present but empty', () => {
      expect(grants(principalFromClaims({ sub: 'u', permissions: [] }, auth))).toEqual([]);
    });

    it('falls back on the OAuth scope claim', () => {
      const p = principalFromClaims({ sub: 'u', scope: 'openid profile workflow:write' }, auth);
      expect(grants(p)).toEqual(['workflow:write']);
    });

    it('prefers the configured claim over scope', () => {
      const p = principalFromClaims({ sub: 'u', permissions: ['agent:read'], scope: 'workflow:write' }, auth);
      expect(grants(p)).toEqual(['agent:read']);
    });

    it('uses default_permissions when neither claim grants anything of ours', () => {
      expect(grants(principalFromClaims({ sub: 'u' }, auth))).toEqual([
        'completion:read',
        'completion:write',
      ]);
      expect(grants(principalFromClaims({ sub: 'u', scope: 'openid profile' }, auth))).toEqual([
        'completion:read',
        'completion:write',
      ]);
    });

    it('reads the configured claim name', () => {
      const custom = authConfig();
      custom.claims.permissions = 'https://example.com/perms';
      const p = principalFromClaims({ sub: 'u', 'https://example.com/perms': ['system:read'] }, custom);
      expect(grants(p)).toEqual(['system:read']);
    });

    it.each([[42], [{ completion: 'read' }], [['completion:read', 7]], [true]])(
      'refuses a malformed claim (%j)',
      (permissions) => {
        expect(unauthorized(() => principalFromClaims({ sub: 'u', permissions }, auth)).message).toBe(
          "The token's permissions claim must be an array of strings or a space-separated string.",
        );
      },
    );
  });

  describe('roles', () => {
    it('makes an admin of the admin role (array or string), who sees everything', () => {
      for (const roles of [['user', 'admin'], 'user admin']) {
        const p = principalFromClaims({ sub: 'u', roles, permissions: [] }, auth);
        expect(p.admin).toBe(true);
        expect(p.scope).toBe('all');
        expect(can(p, 'system', 'write')).toBe(true);
      }
    });

    it('uses the configured admin role', () => {
      const custom = authConfig({ admin_role: 'ops' });
      expect(principalFromClaims({ sub: 'u', roles: ['admin'] }, custom).admin).toBe(false);
      expect(principalFromClaims({ sub: 'u', roles: ['ops'] }, custom).admin).toBe(true);
    });

    it('is not admin without the role', () => {
      expect(principalFromClaims({ sub: 'u', roles: ['administrator'] }, auth).admin).toBe(false);
      expect(principalFromClaims({ sub: 'u' }, auth).admin).toBe(false);
    });

    it('refuses a malformed roles claim', () => {
      unauthorized(() => principalFromClaims({ sub: 'u', roles: { admin: true } }, auth));
    });
  });

  describe('tier', () => {
    it('takes a configured tier', () => {
      expect(principalFromClaims({ sub: 'u', tier: 'pro' }, auth).tier).toBe('pro');
    });

    it.each([['gold'], [7], [undefined], ['constructor']])('falls back on the default tier for %j', (t) => {
      expect(principalFromClaims({ sub: 'u', tier: t }, auth).tier).toBe('default');
    });
  });

  describe('other claims', () => {
    it('reads event types into a set', () => {
      const p = principalFromClaims({ sub: 'u', event_types: ['content.delta', 'tool.call'] }, auth);
      expect(p.eventTypes).toEqual(new Set(['content.delta', 'tool.call']));
      expect(principalFromClaims({ sub: 'u' }, auth).eventTypes).toBeUndefined();
      unauthorized(() => principalFromClaims({ sub: 'u', event_types: 3 }, auth));
    });

    it('reads resource_scope (own unless all)', () => {
      expect(principalFromClaims({ sub: 'u', resource_scope: 'all' }, auth).scope).toBe('all');
      expect(principalFromClaims({ sub: 'u', resource_scope: 'own' }, auth).scope).toBe('own');
      expect(principalFromClaims({ sub: 'u', resource_scope: 'everything' }, auth).scope).toBe('own');
      expect(principalFromClaims({ sub: 'u' }, auth).scope).toBe('own');
    });

    it('reads the sanitization switch (booleans only)', () => {
      expect(principalFromClaims({ sub: 'u', pii_sanitization: true }, auth).sanitize).toBe(true);
      expect(principalFromClaims({ sub: 'u', pii_sanitization: false }, auth).sanitize).toBe(false);
      expect(principalFromClaims({ sub: 'u', pii_sanitization: 'false' }, auth).sanitize).toBeUndefined();
      expect('sanitize' in principalFromClaims({ sub: 'u' }, auth)).toBe(false);
    });

    it('turns exp into expiresAt (ms)', () => {
      expect(principalFromClaims({ sub: 'u', exp: 1_700_000_000 }, auth).expiresAt).toBe(1_700_000_000_000);
      expect(principalFromClaims({ sub: 'u', exp: '1700000000' }, auth).expiresAt).toBeUndefined();
    });

    it('keeps jti (what a revocation names) and iat (ms), refusing a malformed jti', () => {
      const p = principalFromClaims({ sub: 'u', jti: 'token-7', iat: 1_700_000_000 }, auth);
      expect(p.tokenId).toBe('token-7');
      expect(p.issuedAt).toBe(1_700_000_000_000);
      expect('tokenId' in principalFromClaims({ sub: 'u' }, auth)).toBe(false);
      expect(principalFromClaims({ sub: 'u', iat: 'yesterday' }, auth).issuedAt).toBeUndefined();
      for (const jti of [7, '', 'x'.repeat(257), null, ['a']]) {
        expect(unauthorized(() => principalFromClaims({ sub: 'u', jti }, auth)).message).toBe(
          "The token's jti claim must be a string of 1 to 256 characters.",
        );
      }
    });

    it('is a frozen, non-anonymous principal', () => {
      const p = principalFromClaims({ sub: 'u' }, auth);
      expect(p.anonymous).toBe(false);
      expect(Object.isFrozen(p)).toBe(true);
      expect(Object.isFrozen(p.permissions)).toBe(true);
      expect(Object.isFrozen(p.permissions.completion)).toBe(true);
    });
  });
});
