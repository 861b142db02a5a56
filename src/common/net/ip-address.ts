/**
 * IP addresses for outbound-request checks: parsing (every IPv4 form the WHATWG URL parser accepts, IPv6 text
 * forms), what kind of address one is (public, loopback, private, ...) including IPv4 addresses wrapped in
 * IPv6 (mapped, compatible, NAT64, 6to4), and CIDR ranges. A leaf: imports nothing of the app.
 */

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

/** What an address is, for deciding whether the service may connect to it. */
export type AddressKind =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

export interface Cidr {
  base: IpAddress;
  prefix: number;
}

/**
 * An IPv4 address in any form the WHATWG URL host parser accepts: dotted decimal (`127.0.0.1`), fewer parts
 * whose last fills the remaining bytes (`127.1`, `127.0.1`), a single number (`2130706433`), and each part in
 * hex (`0x7f`) or octal (`0177`), with an optional trailing dot. Undefined when it is none of these.
 */
export function parseIPv4(text: string): IpAddress | undefined {
  const parts = text.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = ipv4Number(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop()!;
  if (numbers.some((n) => n > 255)) return undefined;
  if (last >= 256 ** (4 - numbers.length)) return undefined;
  let value = last;
  numbers.forEach((n, i) => (value += n * 256 ** (3 - i)));
  return {
    family: 4,
    bytes: Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255),
  };
}

/** One part of an IPv4 address: decimal, `0x` hex (possibly empty: 0) or `0`-led octal. */
function ipv4Number(part: string): number | undefined {
  if (part === '') return undefined;
  let digits = part;
  let radix = 10;
  if (/^0[xX]/.test(part)) {
    digits = part.slice(2);
    radix = 16;
  } else if (part.length > 1 && part.startsWith('0')) {
    digits = part.slice(1);
    radix = 8;
  }
  if (digits === '') return 0;
  const valid = radix === 16 ? /^[0-9a-fA-F]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!valid.test(digits)) return undefined;
  // Leading zeros mean nothing more; past 2^32 the exact value does not matter (it is refused).
  const significant = digits.replace(/^0+(?=.)/, '');
  return significant.length > 12 ? Number.POSITIVE_INFINITY : parseInt(significant, radix);
}

/**
 * An IPv6 address in text form (RFC 4291: groups of hex, one `::`, an optional dotted-decimal IPv4 tail),
 * without brackets or zone id. Undefined otherwise.
 */
export function parseIPv6(text: string): IpAddress | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : [];
  const groups: number[] = [];
  const all = [...head, ...tail];
  for (let i = 0; i < all.length; i++) {
    const group = all[i]!;
    if (i === all.length - 1 && group.includes('.')) {
      const v4 = strictDottedQuad(group);
      if (!v4) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) {
      groups.push(parseInt(group, 16));
    } else {
      return undefined;
    }
  }
  const headCount = head.length;
  if (halves.length === 1 ? groups.length !== 8 : groups.length > 7) return undefined;
  const full = [
    ...groups.slice(0, headCount),
    ...new Array<number>(8 - groups.length).fill(0),
    ...groups.slice(headCount),
  ];
  const bytes = new Uint8Array(16);
  full.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 255;
  });
  return { family: 6, bytes };
}

/** `a.b.c.d` with decimal parts 0..255 and no leading zeros (the only IPv4 form inside IPv6 text). */
function strictDottedQuad(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p))) return undefined;
  const numbers = parts.map(Number);
  return numbers.every((n) => n <= 255) ? numbers : undefined;
}

/** An IP address: IPv6 (with or without brackets) or any IPv4 form of parseIPv4. */
export function parseIp(text: string): IpAddress | undefined {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (unbracketed.includes(':')) return parseIPv6(unbracketed);
  return unbracketed === text ? parseIPv4(text) : undefined;
}

/** Canonical text: dotted decimal, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return Array.from(ip.bytes).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => (ip.bytes[2 * i]! << 8) | ip.bytes[2 * i + 1]!);
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.length).join(':')}`;
}

/**
 * The IPv4 address an IPv6 address carries, where the network would deliver it to that IPv4 host:
 * IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`,
 * deprecated), NAT64 well-known prefix (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`).
 */
export function embeddedIPv4(ip: IpAddress): IpAddress | undefined {
  if (ip.family !== 6) return undefined;
  const b = ip.bytes;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number): IpAddress => ({ family: 4, bytes: b.slice(at, at + 4) });
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:0:0/96
  if (zeros(0, 8) && b[8] === 0xff && b[9] === 0xff && zeros(10, 12)) return v4(12); // ::ffff:0:0:0/96
  if (zeros(0, 12) && !zeros(12, 14)) return v4(12); // ::/96, but not :: or ::1 (nor ::0.0.x.x)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return v4(12);
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 2002::/16
  return undefined;
}

const V4_RANGES: Array<[string, AddressKind]> = [
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'reserved'], // documentation
  ['192.88.99.0/24', 'reserved'], // 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'], // benchmarking
  ['198.51.100.0/24', 'reserved'], // documentation
  ['203.0.113.0/24', 'reserved'], // documentation
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
];

const V6_RANGES: Array<[string, AddressKind]> = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'private'], // local-use NAT64
  ['100::/64', 'reserved'], // discard-only
  ['2001::/23', 'reserved'], // IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)
  ['2001:db8::/32', 'reserved'], // documentation
  ['3fff::/20', 'reserved'], // documentation
  ['fc00::/7', 'private'], // unique local
  ['fe80::/10', 'link_local'],
  ['fec0::/10', 'private'], // site-local (deprecated)
  ['ff00::/8', 'multicast'],
];

const parsedRanges = (ranges: Array<[string, AddressKind]>): Array<[Cidr, AddressKind]> =>
  ranges.map(([text, kind]) => [parseCidr(text)!, kind]);
const V4 = parsedRanges(V4_RANGES);
const V6 = parsedRanges(V6_RANGES);
const GLOBAL_UNICAST = parseCidr('2000::/3')!;

/**
 * What an address is. An IPv6 address carrying an IPv4 one (see embeddedIPv4) is what that IPv4 address is;
 * IPv6 outside the global unicast range 2000::/3 (and its special blocks) is reserved.
 */
export function classifyIp(ip: IpAddress): AddressKind {
  if (ip.family === 4) return V4.find(([range]) => cidrContains(range, ip))?.[1] ?? 'public';
  const special = V6.find(([range]) => cidrContains(range, ip));
  if (special) return special[1];
  const v4 = embeddedIPv4(ip);
  if (v4) return classifyIp(v4);
  return cidrContains(GLOBAL_UNICAST, ip) ? 'public' : 'reserved';
}

/**
 * A CIDR range (`10.0.0.0/8`, `fd00::/8`) or a single address (`10.1.2.3`, `::1`: its full length). The
 * address part is parsed as parseIp does; bits past the prefix must be zero. Undefined when invalid.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const base = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!base) return undefined;
  const bits = base.bytes.length * 8;
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits) return undefined;
  const cidr = { base, prefix };
  return cidrContains(cidr, base) && hostBitsZero(cidr) ? cidr : undefined;
}

function hostBitsZero({ base, prefix }: Cidr): boolean {
  for (let bit = prefix; bit < base.bytes.length * 8; bit++) {
    if ((base.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

/** Whether the range holds the address (of the same family). */
export function cidrContains({ base, prefix }: Cidr, ip: IpAddress): boolean {
  if (base.family !== ip.family) return false;
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (base.bytes[i] !== ip.bytes[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (base.bytes[whole]! & mask) === (ip.bytes[whole]! & mask);
}

/** `localhost`, or a loopback address in any form (`127.0.0.1`, `::1`, `[::1]`). */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const ip = parseIp(host.replace(/^\[(.*)\]$/, '$1'));
  return ip !== undefined && classifyIp(ip) === 'loopback';
}
