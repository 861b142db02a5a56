import { createHmac } from 'node:crypto';
import type { MaskStyle, PiiEntityName } from '../config/app-config';
import { isCredentialKey, PiiSanitizer, REDACTED, type SanitizerOptions } from './pii-sanitizer';

const ALL: PiiEntityName[] = ['email', 'phone', 'card', 'ssn', 'iban', 'ipv4', 'ipv6', 'secret'];
const HASH_KEY = 'a-long-enough-hash-key';
const EMPLOYEE = { name: 'employee_id', pattern: 'EMP-\\d{6}', max_length: 10 };

function sanitizer(overrides: Partial<SanitizerOptions> = {}): PiiSanitizer {
  return new PiiSanitizer({
    entities: ALL,
    customRules: [EMPLOYEE],
    maskStyle: 'label',
    hashKey: HASH_KEY,
    maxHoldback: 256,
    ...overrides,
  });
}

function hmac8(value: string, key = HASH_KEY): string {
  return createHmac('sha256', key).update(value).digest('hex').slice(0, 8);
}

const SAMPLES: Record<string, string> = {
  email: 'john.doe@example.com',
  phone: '(415) 555-0100',
  card: '4111 1111 1111 1111',
  ssn: '123-45-6789',
  iban: 'DE89 3704 0044 0532 0130 00',
  ipv4: '192.168.1.1',
  ipv6: '2001:db8::1',
  secret: 'sk-abc123def456ghi789jkl012mno',
  employee_id: 'EMP-123456',
};

describe('PiiSanitizer mask styles', () => {
  const expected: Record<MaskStyle, Record<string, string>> = {
    label: {
      email: '[EMAIL]',
      phone: '[PHONE]',
      card: '[CARD]',
      ssn: '[SSN]',
      iban: '[IBAN]',
      ipv4: '[IPV4]',
      ipv6: '[IPV6]',
      secret: '[SECRET]',
      employee_id: '[EMPLOYEE_ID]',
    },
    asterisks: {
      email: '*'.repeat(20),
      phone: '*'.repeat(14),
      card: '*'.repeat(19),
      ssn: '*'.repeat(11),
      iban: '*'.repeat(27),
      ipv4: '*'.repeat(11),
      ipv6: '*'.repeat(11),
      secret: '*'.repeat(30),
      employee_id: '*'.repeat(10),
    },
    partial: {
      email: '****@example.com',
      phone: '(***) ***-0100',
      card: '**** **** **** 1111',
      ssn: '***-**-6789',
      iban: '**** **** **** **** **30 00',
      ipv4: '[IPV4]',
      ipv6: '[IPV6]',
      secret: '[SECRET]',
      employee_id: '[EMPLOYEE_ID]',
    },
    hash: Object.fromEntries(
      Object.entries(SAMPLES).map(([entity, value]) => [entity, `[${entity.toUpperCase()}:${hmac8(value)}]`]),
    ),
  };

  for (const style of ['label', 'asterisks', 'partial', 'hash'] as const) {
    it.each(Object.entries(SAMPLES))(`${style}: %s`, (entity, value) => {
      const s = sanitizer({ maskStyle: style });
      expect(s.mask(`Contact: ${value}, thanks.`)).toBe(`Contact: ${expected[style][entity]}, thanks.`);
    });
  }

  it('asterisks are capped at 32', () => {
    const s = sanitizer({ maskStyle: 'asterisks' });
    expect(s.mask(`key sk-${'a1'.repeat(40)} end`)).toBe(`key ${'*'.repeat(32)} end`);
  });

  it('hash: the same value gives the same mask, another key another one', () => {
    const a = sanitizer({ maskStyle: 'hash' });
    const b = sanitizer({ maskStyle: 'hash', hashKey: 'another-key-of-16-chars' });
    const text = 'mail john@example.com';
    expect(a.mask(text)).toBe(a.mask(text));
    expect(a.mask(text)).toMatch(/^mail \[EMAIL:[0-9a-f]{8}\]$/);
    expect(b.mask(text)).not.toBe(a.mask(text));
  });
});

describe('PiiSanitizer API', () => {
  it('find: non-overlapping matches sorted by start', () => {
    const text = 'ip 10.0.0.1, mail a@example.com, EMP-123456 and 123-45-6789';
    expect(sanitizer().find(text)).toEqual([
      { entity: 'ipv4', start: 3, end: 11 },
      { entity: 'email', start: 18, end: 31 },
      { entity: 'employee_id', start: 33, end: 43 },
      { entity: 'ssn', start: 48, end: 59 },
    ]);
  });

  it('mask returns the same string instance when nothing matched', () => {
    const s = sanitizer();
    const plain = ['Lorem ipsum dolor sit amet', 'v1.2.3 on 2024-01-15'].join(' ');
    expect(s.mask(plain)).toBe(plain);
    expect(sanitizer({ customRules: [] }).mask(plain)).toBe(plain);
  });

  it('only enabled entities are masked', () => {
    const s = sanitizer({ entities: ['email'], customRules: [] });
    expect(s.mask('a@example.com 123-45-6789')).toBe('[EMAIL] 123-45-6789');
  });

  it('is disabled with no entity and no custom rule, and then passes text through', () => {
    const s = sanitizer({ entities: [], customRules: [] });
    expect(s.enabled).toBe(false);
    expect(s.mask('a@example.com')).toBe('a@example.com');
    expect(s.find('a@example.com')).toEqual([]);
    const stream = s.stream();
    expect(stream.push('a@exa')).toBe('a@exa');
    expect(stream.held).toBe(0);
    expect(stream.flush()).toBe('');
    expect(sanitizer({ entities: [] }).enabled).toBe(true);
  });

  it('throws on a custom rule that does not compile', () => {
    expect(() =>
      sanitizer({ customRules: [{ name: 'broken', pattern: 'EMP-(\\d+', max_length: 10 }] }),
    ).toThrow(/custom PII rule "broken"/);
  });

  it('throws on the hash style without a key', () => {
    expect(() => sanitizer({ maskStyle: 'hash', hashKey: undefined })).toThrow(/hashKey/);
  });

  it('custom rules get the global flag and keep theirs', () => {
    const s = sanitizer({
      entities: [],
      customRules: [{ name: 'ticket', pattern: 'tkt-\\d+', flags: 'i', max_length: 12 }],
    });
    expect(s.mask('TKT-1 and tkt-22')).toBe('[TICKET] and [TICKET]');
  });
});

describe('PiiSanitizer.scrub', () => {
  it('masks every string of a nested value and leaves the input alone', () => {
    const input = {
      user: 'john@example.com',
      tags: ['call 415-555-0100', 'plain', 3, true, null],
      nested: { deeper: { note: 'ssn 123-45-6789', count: 2 } },
    };
    const snapshot = structuredClone(input);
    expect(sanitizer().scrub(input)).toEqual({
      user: '[EMAIL]',
      tags: ['call [PHONE]', 'plain', 3, true, null],
      nested: { deeper: { note: 'ssn [SSN]', count: 2 } },
    });
    expect(input).toEqual(snapshot);
  });

  it('redacts the values of credential-looking keys, whatever their case or separators', () => {
    const out = sanitizer().scrub({
      api_key: 'x',
      apiKey: 'x',
      'X-Api-Key': 'x',
      accessToken: { nested: 'x' },
      refresh_token: 'x',
      PASSWORD: 'x',
      client_secret: 'x',
      Authorization: 'Bearer x',
      cookie: 'x',
      'Set-Cookie': ['x'],
      max_tokens: 256,
      tokenizer: 'cl100k',
      session_id: 'abc',
    });
    expect(out).toEqual({
      api_key: REDACTED,
      apiKey: REDACTED,
      'X-Api-Key': REDACTED,
      accessToken: REDACTED,
      refresh_token: REDACTED,
      PASSWORD: REDACTED,
      client_secret: REDACTED,
      Authorization: REDACTED,
      cookie: REDACTED,
      'Set-Cookie': REDACTED,
      max_tokens: 256,
      tokenizer: 'cl100k',
      session_id: 'abc',
    });
  });

  it('redacts metadataKeys, case and separator insensitive', () => {
    const s = sanitizer({ metadataKeys: ['customer_name'] });
    expect(s.scrub({ metadata: { 'Customer-Name': 'Jane Roe', other: 'Jane Roe' } })).toEqual({
      metadata: { 'Customer-Name': REDACTED, other: 'Jane Roe' },
    });
  });

  it('cuts cycles and nesting deeper than 32', () => {
    const cyclic: Record<string, unknown> = { name: 'a@example.com' };
    cyclic.self = cyclic;
    cyclic.list = [cyclic];
    expect(sanitizer().scrub(cyclic)).toEqual({ name: '[EMAIL]', self: REDACTED, list: [REDACTED] });

    let deep: Record<string, unknown> = { leaf: 'x' };
    for (let i = 0; i < 40; i++) deep = { child: deep };
    let node: unknown = sanitizer().scrub(deep);
    let depth = 0;
    while (typeof node === 'object' && node !== null) {
      node = (node as Record<string, unknown>).child;
      depth++;
    }
    expect(node).toBe(REDACTED);
    expect(depth).toBe(32);
  });

  it('copies shared (acyclic) references, keeps non-plain objects as they are', () => {
    const shared = { mail: 'a@example.com' };
    const date = new Date(0);
    const buffer = Buffer.from('a@example.com');
    const out = sanitizer().scrub({ a: shared, b: shared, date, buffer });
    expect(out).toEqual({ a: { mail: '[EMAIL]' }, b: { mail: '[EMAIL]' }, date, buffer });
    expect(out.date).toBe(date);
    expect(out.buffer).toBe(buffer);
  });

  it('scrubs a bare string, and leaves scalars', () => {
    expect(sanitizer().scrub('a@example.com')).toBe('[EMAIL]');
    expect(sanitizer().scrub(42)).toBe(42);
    expect(sanitizer().scrub(undefined)).toBeUndefined();
  });

  it('isCredentialKey', () => {
    for (const name of [
      'token',
      'id_token',
      'auth',
      'proxy-authorization',
      'private_key',
      'aws_access_key_id',
    ]) {
      expect(isCredentialKey(name)).toBe(true);
    }
    for (const name of ['tokens', 'prompt_tokens', 'model', 'keyword', 'author']) {
      expect(isCredentialKey(name)).toBe(false);
    }
  });
});
