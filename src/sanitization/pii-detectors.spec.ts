import type { PiiEntityName } from '../config/app-config';
import { PiiRuleSet } from './pii-rule-set';

const ALL: PiiEntityName[] = ['email', 'phone', 'card', 'ssn', 'iban', 'ipv4', 'ipv6', 'secret'];
const rules = new PiiRuleSet({ entities: ALL, customRules: [], maskStyle: 'label', maxHoldback: 256 });

/** `prefix` and then n characters of a mixed-case, digit-bearing body. */
function key(prefix: string, n: number): string {
  return prefix + 'a1B2c3D4e5F6g7H8i9J0kLmN'.repeat(8).slice(0, n);
}

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ.' +
  'Rq8IxqeX7eA6GgYxlcHdPFVRNFFZc5rEI3MQTZZbK3I';

/** [entity, the text placed mid-sentence, the part masked (default: all of it)]. */
const POSITIVES: [string, string, string?][] = [
  ['email', 'john.doe@example.com'],
  ['email', 'a.b+tag@mail.example.co.uk'],
  ['email', 'x_y%z@sub-domain.example.io'],
  ['email', 'JANE@EXAMPLE.ORG'],
  ['phone', '+14155550100'],
  ['phone', '+44 20 7946 0958'],
  ['phone', '+1-415-555-0100'],
  ['phone', '+1 (415) 555-0100'],
  ['phone', '+33 1 23 45 67 89'],
  ['phone', '(415) 555-0100'],
  ['phone', '(415)555-0100'],
  ['phone', '415-555-0100'],
  ['phone', '415.555.0100'],
  ['phone', '415 555 0100'],
  ['phone', '1-415-555-0100'],
  ['card', '4111 1111 1111 1111'],
  ['card', '4111-1111-1111-1111'],
  ['card', '4111111111111111'],
  ['card', '5500 0000 0000 0004'],
  ['card', '3782 822463 10005'],
  ['card', '6011000990139424'],
  ['card', '4222222222222'],
  ['ssn', '123-45-6789'],
  ['ssn', '123 45 6789'],
  ['ssn', '078-05-1120'],
  ['iban', 'DE89 3704 0044 0532 0130 00'],
  ['iban', 'DE89370400440532013000'],
  ['iban', 'GB82 WEST 1234 5698 7654 32'],
  ['iban', 'GB82WEST12345698765432'],
  ['iban', 'FR1420041010050500013M02606'],
  ['iban', 'NL91 ABNA 0417 1643 00'],
  ['ipv4', '192.168.1.1'],
  ['ipv4', '10.0.0.255'],
  ['ipv4', '8.8.8.8'],
  ['ipv4', '255.255.255.255'],
  ['ipv4', '0.0.0.0'],
  ['ipv6', '2001:db8::1'],
  ['ipv6', '2001:0db8:85a3:0000:0000:8a2e:0370:7334'],
  ['ipv6', '::1'],
  ['ipv6', 'fe80::1ff:fe23:4567:890a'],
  ['ipv6', '::ffff:192.0.2.1'],
  ['ipv6', '2001:db8:0:0:0:0:2:1'],
  ['ipv6', 'FE80::A'],
  ['secret', key('sk-', 48)],
  ['secret', key('sk-proj-', 60)],
  ['secret', key('sk-svcacct-', 40)],
  ['secret', key('sk-ant-api03-', 80)],
  ['secret', key('sk-ant-admin01-', 60)],
  ['secret', 'AKIAIOSFODNN7EXAMPLE'],
  ['secret', 'ASIAY34FZKBOKMUTVV7A'],
  ['secret', JWT],
  ['secret', key('AIza', 35)],
  ['secret', key('ghp_', 36)],
  ['secret', key('gho_', 36)],
  ['secret', key('ghs_', 36)],
  ['secret', key('github_pat_', 60)],
  ['secret', 'xoxb-123456789012-1234567890123-abcdefABCDEF'],
  ['secret', 'xoxp-1234567890-abcdef'],
  ['secret', 'Bearer abcDEF123456ghiJKL789', 'abcDEF123456ghiJKL789'],
  ['secret', `Bearer ${JWT}`, JWT],
];

/** Near misses: none of these may be masked, whatever entities are on. */
const NEGATIVES: string[] = [
  // version numbers
  'v1.2.3',
  'v1.2.3.4',
  'V10.0.0.1',
  '1.2.3.4.5',
  'version 1.2.3.4',
  'Version: 1.2.3.4',
  'version 10.0.19041.1',
  'node 20.19.2',
  // dates and times
  '2024-01-15',
  '01/15/2024',
  '15.01.2024',
  '2024-01-15T10:30:00Z',
  '2024-01-15 10:30:00.123',
  '10:30:00',
  '10:30',
  // order ids and bare numbers
  'ORD-123-45-6789',
  'order #4155550100',
  'INV-2024-000123',
  'ref 4155550100',
  'ISBN 978-3-16-148410-0',
  '+1 415',
  '123-456-7890',
  // cards
  '4111 1111 1111 1112',
  '4111111111111112',
  '4444444444444444',
  '0000 0000 0000 0000',
  '4111 1111 1111 1111 1',
  '12345678901234567',
  'A4111111111111111',
  // SSN
  '000-12-3456',
  '666-12-3456',
  '900-12-3456',
  '999-12-3456',
  '123-00-4567',
  '123-45-0000',
  '123-45-67890',
  '1123-45-6789',
  // IBAN
  'DE89 3704 0044 0532 0130 01',
  'DE00370400440532013000',
  'GB82WEST12345698765433',
  // IPs and colons
  '999.1.1.1',
  '256.1.1.1',
  '192.168.01.1',
  '1.2.3',
  '16:9',
  '1:2:3',
  'a:b',
  '::',
  'std::vector',
  'Foo::Bar',
  '00:1A:2B:3C:4D:5E',
  // money, ratios, numbers in prose
  '$1,234.56',
  '3.14159',
  'ratio 4:3 and 21:9',
  'room 101, floor 5',
  'the year 2024',
  // secrets
  'sk-abc123',
  'sk-learn-is-a-python-library-for-ml',
  'task-force-management-initiative',
  'desk-top and risk-based sk-',
  'AKIA1234',
  'eyJhbGciOiJIUzI1NiJ9',
  'Bearer token',
  'bearer bonds are old',
  'ghp_short',
  // emails
  'user@localhost',
  'a@b.c',
  '@handle',
];

describe('detectors: positives', () => {
  it.each(POSITIVES)('%s: %s', (entity, sample, masked = sample) => {
    const text = `Contact: ${sample}, thanks.`;
    const start = text.indexOf(masked);
    expect(rules.find(text)).toEqual([{ entity, start, end: start + masked.length }]);
  });

  it.each(POSITIVES)('%s at the very start and end: %s', (entity, sample, masked = sample) => {
    const start = sample.indexOf(masked);
    expect(rules.find(sample)).toEqual([{ entity, start, end: start + masked.length }]);
  });
});

describe('detectors: near misses', () => {
  it.each(NEGATIVES)('%s is not masked', (sample) => {
    const text = `Note: ${sample} here.`;
    expect(rules.find(text)).toEqual([]);
    expect(rules.mask(text)).toBe(text);
  });
});

describe('detectors: boundaries', () => {
  it('does not take an email out of a longer word run', () => {
    expect(rules.mask('john@example.com_x')).toBe('john@example.com_x');
    expect(rules.mask('mailto:john@example.com.')).toBe('mailto:[EMAIL].');
  });

  it('keeps an IPv4 address out of dotted runs and version strings but not out of ports', () => {
    expect(rules.mask('at 10.1.2.3:8080.')).toBe('at [IPV4]:8080.');
    expect(rules.mask('build 1.2.3.4-beta, v2.0.0.1')).toBe('build [IPV4]-beta, v2.0.0.1');
  });

  it('masks a compact card followed by its expiry, not the expiry', () => {
    expect(rules.mask('4111111111111111 12/25')).toBe('[CARD] 12/25');
  });

  it('drops trailing groups that break an IBAN checksum', () => {
    expect(rules.mask('DE89 3704 0044 0532 0130 00 THEN')).toBe('[IBAN] THEN');
  });

  it('masks only the token after Bearer', () => {
    expect(rules.mask('Authorization: Bearer abcDEF123456ghiJKL789')).toBe('Authorization: Bearer [SECRET]');
  });
});
