import {
  type AddressKind,
  cidrContains,
  classifyIp,
  embeddedIPv4,
  formatIp,
  parseCidr,
  parseIp,
  parseIPv4,
  parseIPv6,
} from './ip-address';

const text = (ip: ReturnType<typeof parseIp>) => (ip ? formatIp(ip) : undefined);

describe('parseIPv4: every numeric form the WHATWG URL parser accepts', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0X7F000001', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['0x7f.0.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['127.0.0.1.', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['0.0.0.0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['0xa9.0xfe.0xa9.0xfe', '169.254.169.254'],
    ['2852039166', '169.254.169.254'],
    ['0251.0376.0251.0376', '169.254.169.254'],
    ['169.254.43518', '169.254.169.254'],
    ['10.1', '10.0.0.1'],
    ['4294967295', '255.255.255.255'],
    ['00000000000000000000000000000177.1', '127.0.0.1'],
  ])('%s is %s, as new URL says', (input, expected) => {
    expect(text(parseIPv4(input))).toBe(expected);
    expect(new URL(`http://${input}/`).hostname).toBe(expected);
  });

  it.each([
    '4294967296',
    '256.0.0.1',
    '1.2.3.4.5',
    '1.2.3.256',
    '1.2.65536',
    '08.0.0.1',
    '0x1g',
    '1..2',
    '',
    '.',
    'example.com',
    '1.2.3.4x',
  ])('%p is not an IPv4 address', (input) => {
    expect(parseIPv4(input)).toBeUndefined();
  });

  it('agrees with the URL parser on every IPv4-looking host it refuses', () => {
    for (const input of ['4294967296', '256.0.0.1', '1.2.3.4.5', '08.0.0.1', '0x1g.1']) {
      expect(() => new URL(`http://${input}/`)).toThrow();
    }
  });
});

describe('parseIPv6', () => {
  it.each([
    ['::1', '::1'],
    ['::', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::ffff:127.0.0.1', '::ffff:7f00:1'],
    ['::FFFF:7F00:1', '::ffff:7f00:1'],
    ['::127.0.0.1', '::7f00:1'],
    ['64:ff9b::169.254.169.254', '64:ff9b::a9fe:a9fe'],
    ['fe80::1', 'fe80::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1::', '1::'],
  ])('%s is %s (the URL parser agrees)', (input, expected) => {
    expect(text(parseIPv6(input))).toBe(expected);
    expect(new URL(`http://[${input}]/`).hostname).toBe(`[${expected}]`);
  });

  it.each([
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '12345::',
    '::ffff:127.1',
    '::ffff:127.0.0.01',
    'fe80::1%eth0',
    'g::',
    ':1',
    '1:2:3:4:5:6:7',
  ])('%p is not an IPv6 address', (input) => expect(parseIPv6(input)).toBeUndefined());

  it('parseIp takes brackets for IPv6 only', () => {
    expect(text(parseIp('[::1]'))).toBe('::1');
    expect(parseIp('[127.0.0.1]')).toBeUndefined();
    expect(text(parseIp('0x7f.1'))).toBe('127.0.0.1');
  });
});

describe('classifyIp', () => {
  it.each<[string, AddressKind]>([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['169.254.169.254', 'link_local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fe80::1', 'link_local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo
    ['100::1', 'reserved'],
    ['64:ff9b:1::1', 'private'],
    ['::2:0:0:0', 'reserved'],
    ['4000::1', 'reserved'],
    ['2606:4700::1111', 'public'],
    // IPv4 wrapped in IPv6: what the IPv4 address is.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:0:127.0.0.1', 'loopback'], // IPv4-translated
    ['::127.0.0.1', 'loopback'], // IPv4-compatible
    ['::169.254.169.254', 'link_local'],
    ['64:ff9b::127.0.0.1', 'loopback'], // NAT64
    ['64:ff9b::10.0.0.1', 'private'],
    ['2002:7f00:1::', 'loopback'], // 6to4
    ['2002:a9fe:a9fe::1', 'link_local'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::8.8.8.8', 'public'],
  ])('%s is %s', (address, kind) => {
    expect(classifyIp(parseIp(address)!)).toBe(kind);
  });

  it('finds the IPv4 address in mapped, compatible, NAT64 and 6to4 forms only', () => {
    const v4 = (a: string) => {
      const ip = embeddedIPv4(parseIp(a)!);
      return ip && formatIp(ip);
    };
    expect(v4('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(v4('::1.2.3.4')).toBe('1.2.3.4');
    expect(v4('64:ff9b::1.2.3.4')).toBe('1.2.3.4');
    expect(v4('2002:102:304::')).toBe('1.2.3.4');
    expect(v4('2606:4700::1111')).toBeUndefined();
    expect(v4('1.2.3.4')).toBeUndefined();
  });
});

describe('CIDR', () => {
  it.each([
    ['10.0.0.0/8', '10.255.0.1', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['127.0.0.1', '127.0.0.1', true],
    ['127.0.0.1', '127.0.0.2', false],
    ['0.0.0.0/0', '8.8.8.8', true],
    ['100.64.0.0/10', '100.127.1.1', true],
    ['fd00::/8', 'fd12::1', true],
    ['fd00::/8', 'fc00::1', false],
    ['::1', '::1', true],
    ['::/0', '::ffff:127.0.0.1', true],
    ['10.0.0.0/8', '::ffff:10.0.0.1', false], // families differ; allow lists look at the IPv4 inside
  ])('%s holds %s: %p', (range, address, expected) => {
    expect(cidrContains(parseCidr(range)!, parseIp(address)!)).toBe(expected);
  });

  it.each(['10.0.0.1/8', '10.0.0.0/33', '::1/129', '10.0.0.0/', '10.0.0.0/08', 'example.com/8', '/8'])(
    'refuses %p',
    (range) => expect(parseCidr(range)).toBeUndefined(),
  );
});
