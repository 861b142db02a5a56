import { AddressAllowList, allowEntryProblem } from './address-allow-list';
import { parseIp } from './ip-address';

describe('AddressAllowList', () => {
  const list = new AddressAllowList([
    'hooks.internal',
    '*.corp.example',
    '10.1.2.3',
    '192.168.0.0/16',
    '::1',
  ]);

  it.each([
    ['hooks.internal', true],
    ['HOOKS.internal.', true],
    ['a.corp.example', true],
    ['a.b.corp.example', true],
    ['corp.example', false],
    ['evilcorp.example', false],
    ['hooks.internal.evil.com', false],
    ['other.internal', false],
  ])('host %s: %p', (host, expected) => expect(list.allowsHost(host)).toBe(expected));

  it.each([
    ['10.1.2.3', true],
    ['10.1.2.4', false],
    ['192.168.7.7', true],
    ['::ffff:192.168.7.7', true],
    ['::ffff:10.1.2.3', true],
    ['::1', true],
    ['127.0.0.1', false],
  ])('address %s: %p', (address, expected) => expect(list.allowsAddress(parseIp(address)!)).toBe(expected));

  it('allows nothing when empty', () => {
    const empty = new AddressAllowList([]);
    expect(empty.allowsHost('localhost')).toBe(false);
    expect(empty.allowsAddress(parseIp('127.0.0.1')!)).toBe(false);
  });

  it.each([
    'localhost',
    'hooks.internal',
    '*.corp.example',
    '10.0.0.0/8',
    '127.0.0.1',
    '::1',
    'fd00::/8',
    '0x7f.1',
  ])('accepts the entry %p', (entry) => expect(allowEntryProblem(entry)).toBeUndefined());

  it.each([
    '',
    'http://hooks.internal',
    'hooks.internal:8080',
    '10.0.0.1/8',
    '300.1.1.1',
    '*',
    '*.',
    'a..b',
    'a b',
    7,
  ])('refuses the entry %p', (entry) => {
    expect(allowEntryProblem(entry)).toEqual(expect.any(String));
    if (typeof entry === 'string') expect(() => new AddressAllowList([entry])).toThrow(/invalid allow entry/);
  });
});
