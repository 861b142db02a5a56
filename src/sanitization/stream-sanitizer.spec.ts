import type { PiiEntityName } from '../config/app-config';
import { PiiSanitizer, type SanitizerOptions } from './pii-sanitizer';
import type { StreamSanitizer } from './stream-sanitizer';

const ALL: PiiEntityName[] = ['email', 'phone', 'card', 'ssn', 'iban', 'ipv4', 'ipv6', 'secret'];
const EMPLOYEE = { name: 'employee_id', pattern: 'EMP-\\d{6}', max_length: 10 };

function sanitizer(overrides: Partial<SanitizerOptions> = {}): PiiSanitizer {
  return new PiiSanitizer({
    entities: ALL,
    customRules: [EMPLOYEE],
    maskStyle: 'label',
    hashKey: 'a-long-enough-hash-key',
    maxHoldback: 256,
    ...overrides,
  });
}

/** Feeds the chunks, checking the hold-back bound after every push. */
function feed(
  stream: StreamSanitizer,
  chunks: readonly string[],
  maxHoldback = 256,
): { out: string; held: number[] } {
  let out = '';
  const held: number[] = [];
  for (const chunk of chunks) {
    out += stream.push(chunk);
    held.push(stream.held);
    if (stream.held > maxHoldback) throw new Error(`held ${stream.held} > ${maxHoldback}`);
  }
  return { out: out + stream.flush(), held };
}

function chunksOf(text: string, size: number): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks;
}

function key(prefix: string, n: number): string {
  return prefix + 'a1B2c3D4e5F6g7H8i9J0kLmN'.repeat(8).slice(0, n);
}

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ.' +
  'Rq8IxqeX7eA6GgYxlcHdPFVRNFFZc5rEI3MQTZZbK3I';

/** One or more samples of every format each detector knows. */
const POSITIVES: string[] = [
  'john.doe@example.com',
  'a.b+tag@mail.example.co.uk',
  'x_y%z@sub-domain.example.io',
  '+14155550100',
  '+44 20 7946 0958',
  '+1-415-555-0100',
  '+1 (415) 555-0100',
  '+33 1 23 45 67 89',
  '(415) 555-0100',
  '415-555-0100',
  '415.555.0100',
  '415 555 0100',
  '1-415-555-0100',
  '4111 1111 1111 1111',
  '4111-1111-1111-1111',
  '4111111111111111',
  '3782 822463 10005',
  '4222222222222',
  '123-45-6789',
  '123 45 6789',
  'DE89 3704 0044 0532 0130 00',
  'DE89370400440532013000',
  'GB82 WEST 1234 5698 7654 32',
  'FR1420041010050500013M02606',
  '192.168.1.1',
  '255.255.255.255',
  '0.0.0.0',
  '2001:db8::1',
  '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
  '::1',
  'fe80::1ff:fe23:4567:890a',
  '::ffff:192.0.2.1',
  key('sk-', 48),
  key('sk-proj-', 60),
  key('sk-svcacct-', 40),
  key('sk-ant-api03-', 80),
  'AKIAIOSFODNN7EXAMPLE',
  'ASIAY34FZKBOKMUTVV7A',
  JWT,
  key('AIza', 35),
  key('ghp_', 36),
  key('github_pat_', 60),
  'xoxb-123456789012-1234567890123-abcdefABCDEF',
  'Bearer abcDEF123456ghiJKL789',
  'EMP-123456',
];

describe('StreamSanitizer: any split gives mask(whole)', () => {
  const s = sanitizer();

  describe.each(POSITIVES)('%s', (sample) => {
    const text = `Contact: ${sample}, thanks.`;
    const expected = s.mask(text);

    it('is masked at all', () => {
      expect(expected).not.toBe(text);
      expect(expected).not.toContain(sample.replace(/^Bearer /, ''));
    });

    it('split into 2 chunks at every position', () => {
      for (let i = 0; i <= text.length; i++) {
        expect(feed(s.stream(), [text.slice(0, i), text.slice(i)]).out).toBe(expected);
      }
    });

    it('split into 3 chunks at every pair of positions', () => {
      for (let i = 1; i < text.length; i++) {
        for (let j = i + 1; j < text.length; j++) {
          const out = feed(s.stream(), [text.slice(0, i), text.slice(i, j), text.slice(j)]).out;
          if (out !== expected) throw new Error(`split at ${i},${j}: ${JSON.stringify(out)}`);
        }
      }
    });

    it('one character at a time', () => {
      expect(feed(s.stream(), [...text]).out).toBe(expected);
    });
  });

  it.each(['asterisks', 'partial', 'hash'] as const)(
    '%s style, 2-chunk splits of every sample',
    (maskStyle) => {
      const styled = sanitizer({ maskStyle });
      for (const sample of POSITIVES) {
        const text = `Contact: ${sample}, thanks.`;
        const expected = styled.mask(text);
        for (let i = 0; i <= text.length; i++) {
          const out = feed(styled.stream(), [text.slice(0, i), text.slice(i)]).out;
          if (out !== expected) throw new Error(`${sample} split at ${i}: ${JSON.stringify(out)}`);
        }
      }
    },
  );

  it('custom rule EMP-\\d{6} (max_length 10), split at every position, near misses included', () => {
    const custom = sanitizer({ entities: [] });
    const text = 'ids EMP-123456, EMP-12345 and xEMP-654321 EMP-1234567.';
    const expected = 'ids [EMPLOYEE_ID], EMP-12345 and x[EMPLOYEE_ID] [EMPLOYEE_ID]7.';
    expect(custom.mask(text)).toBe(expected);
    for (let i = 0; i <= text.length; i++) {
      expect(feed(custom.stream(), [text.slice(0, i), text.slice(i)]).out).toBe(expected);
    }
    expect(feed(custom.stream(), [...text]).out).toBe(expected);
  });

  it.each([
    'iban DE89 3704 0044 0532 0130 00@ here',
    'tel +1 415 555 0100:b here',
    'Bearer abcdef1234567890XYZa-9 x',
  ])('a found match that a still-open run starts inside of is never cut: %s', (text) => {
    const expected = s.mask(text);
    expect(expected).not.toBe(text);
    for (let i = 1; i < text.length; i++) {
      for (let j = i + 1; j < text.length; j++) {
        const out = feed(s.stream(), [text.slice(0, i), text.slice(i, j), text.slice(j)]).out;
        if (out !== expected) throw new Error(`split at ${i},${j}: ${JSON.stringify(out)}`);
      }
    }
  });

  it('random texts of entities, near misses and noise, in random chunks (seeded)', () => {
    const pieces = [
      ...POSITIVES,
      'v1.2.3.4',
      'version 1.2.3.4',
      '1.2.3.4.5',
      '2024-01-15',
      '10:30:00',
      'ORD-123-45-6789',
      '4111111111111112',
      'sk-short',
      'task',
      'Bearer ',
      'eyJ',
      'AKIA',
      '::',
      ...'  \n.,:;-+()@/#_=vVaAeE0123456789',
    ];
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let masked = 0;
    for (let round = 0; round < 1500; round++) {
      let text = '';
      for (let n = 1 + random(14); n > 0; n--) text += pieces[random(pieces.length)];
      const chunks: string[] = [];
      for (let i = 0; i < text.length;) {
        const size = 1 + random(12);
        chunks.push(text.slice(i, i + size));
        i += size;
      }
      const expected = s.mask(text);
      if (expected !== text) masked++;
      const out = feed(s.stream(), chunks).out;
      if (out !== expected) throw new Error(`${JSON.stringify(chunks)}: ${JSON.stringify(out)}`);
    }
    expect(masked).toBeGreaterThan(500);
  });
});

describe('StreamSanitizer: how much it holds back', () => {
  const s = sanitizer();

  it('holds only what could still become an entity', () => {
    const a = s.stream();
    expect(a.push('Hello wor')).toBe('Hello ');
    expect(a.held).toBe(3);
    expect(a.push('ld ')).toBe('world ');
    expect(a.held).toBe(0);

    const b = s.stream();
    expect(b.push('call me at +1 415')).toBe('call me at ');
    expect(b.held).toBe('+1 415'.length);
    expect(b.push(' 555 0100 now ')).toBe('[PHONE] now ');
    expect(b.held).toBe(0);

    const c = s.stream();
    expect(c.push('id EMP-12')).toBe('id ');
    expect(c.held).toBe('EMP-12'.length);
    expect(c.push('3456.')).toBe('');
    expect(c.push(' ')).toBe('[EMPLOYEE_ID]. ');
  });

  it('emits "Bearer " at once and still masks the token that follows', () => {
    const stream = s.stream();
    expect(stream.push('Authorization: Bearer ')).toBe('Authorization: Bearer ');
    expect(stream.push('abcDEF123456')).toBe('');
    expect(stream.push('ghiJKL789\n')).toBe('[SECRET]\n');
  });

  it('prose: everything comes out, and little is held (max < 20: the longest word plus a chunk)', () => {
    const lorem =
      'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et ' +
      'dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ' +
      'ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore. ';
    const text = lorem.repeat(10).slice(0, 2000);
    const { out, held } = feed(s.stream(), chunksOf(text, 5));
    expect(out).toBe(text);
    expect(Math.max(...held)).toBeLessThan(20);
    expect(held.reduce((sum, n) => sum + n, 0) / held.length).toBeLessThan(6);
  });

  it('a custom rule without a literal prefix holds its max_length (room for a one-char look-ahead)', () => {
    const custom = sanitizer({
      entities: [],
      customRules: [{ name: 'code', pattern: '[A-Z]{2}\\d{4}', max_length: 6 }],
    });
    const stream = custom.stream();
    expect(stream.push('plain text here')).toBe('plain tex');
    expect(stream.held).toBe(6);
    expect(stream.flush()).toBe('t here');
  });
});

describe('StreamSanitizer: past the hold-back bound', () => {
  function longJwt(length: number): string {
    const body = 'Ab9_x-Yz3Q'.repeat(200);
    const head = 'eyJhbGciOiJIUzI1NiJ9.eyJ';
    const signature = '.' + body.slice(0, 43);
    return head + body.slice(0, length - head.length - signature.length) + signature;
  }

  it('a 1,200-char JWT in 7-char chunks: never leaks, masked once, held within the bound', () => {
    const s = sanitizer();
    const jwt = longJwt(1200);
    expect(jwt).toHaveLength(1200);
    const text = `token: ${jwt} -- done.`;
    const { out, held } = feed(s.stream(), chunksOf(text, 7));
    expect(out).toBe('token: [SECRET] -- done.');
    expect(Math.max(...held)).toBeLessThanOrEqual(256);
    for (let i = 0; i + 8 <= jwt.length; i++) {
      if (out.includes(jwt.slice(i, i + 8))) throw new Error(`leaked ${jwt.slice(i, i + 8)}`);
    }
    expect(out).toBe(s.mask(text));
  });

  it('suppression hashes the whole run (hash style), like mask()', () => {
    const s = sanitizer({ maskStyle: 'hash' });
    const text = `key ${key('sk-proj-', 150)}${key('', 150)} and more`;
    expect(feed(s.stream(), chunksOf(text, 5)).out).toBe(s.mask(text));
  });

  it('maxHoldback 16: an AKIA key (20 chars) and a Bearer token are suppressed, not leaked', () => {
    const s = sanitizer({ maxHoldback: 16 });
    const text = 'aws AKIAIOSFODNN7EXAMPLE and Bearer abcDEF123456ghiJKL789xyz done';
    const { out } = feed(s.stream(), chunksOf(text, 3), 16);
    expect(out).toBe('aws [SECRET] and Bearer [SECRET] done');
  });

  it('a long run that is no secret releases its oldest characters unchanged', () => {
    const s = sanitizer();
    const text = `start ${'abcdefghij'.repeat(100)} end`;
    const { out, held } = feed(s.stream(), chunksOf(text, 9));
    expect(out).toBe(text);
    expect(Math.max(...held)).toBeLessThanOrEqual(256);
  });

  it('a long run of digit groups releases its oldest characters, bounded', () => {
    const s = sanitizer({ maxHoldback: 32 });
    const text = `table ${'12 34 '.repeat(50)}end`;
    const { out, held } = feed(s.stream(), chunksOf(text, 4), 32);
    expect(out).toBe(text);
    expect(Math.max(...held)).toBeLessThanOrEqual(32);
  });
});

describe('StreamSanitizer: edges', () => {
  it('empty pushes, empty stream, flush of held text', () => {
    const s = sanitizer();
    const stream = s.stream();
    expect(stream.push('')).toBe('');
    expect(stream.flush()).toBe('');
    const other = s.stream();
    expect(other.push('mail me: john@example.c')).toBe('mail me: ');
    expect(other.flush()).toBe('john@example.c');
  });

  it('streams are independent', () => {
    const s = sanitizer();
    const a = s.stream();
    const b = s.stream();
    expect(a.push('x john@exa')).toBe('x ');
    expect(b.push('y 415-555')).toBe('y ');
    expect(a.push('mple.com y')).toBe('[EMAIL] ');
    expect(b.push('-0100 z')).toBe('[PHONE] ');
    expect(a.flush() + b.flush()).toBe('yz');
  });
});
