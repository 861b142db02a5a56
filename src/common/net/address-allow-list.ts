import { type Cidr, cidrContains, embeddedIPv4, type IpAddress, parseCidr } from './ip-address';

/** A hostname as an allow entry: DNS labels, optionally `*.` first (any name below it). */
const HOST_ENTRY =
  /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * What an operator allows outbound requests to reach besides public addresses: hostnames (`hooks.internal`,
 * `*.corp.example`: any name below it), addresses (`10.1.2.3`, `::1`) and CIDR ranges (`10.0.0.0/8`,
 * `fd00::/8`). An address matches when it, or the IPv4 address it carries (`::ffff:10.1.2.3`), is in a range.
 */
export class AddressAllowList {
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly ranges: Cidr[] = [];

  /** Throws on an invalid entry (config validation refuses those first, see allowEntryProblem). */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const problem = allowEntryProblem(entry);
      if (problem) throw new Error(`invalid allow entry ${JSON.stringify(entry)}: ${problem}`);
      const cidr = parseCidr(entry);
      if (cidr) this.ranges.push(cidr);
      else if (entry.startsWith('*.')) this.suffixes.push(normalHost(entry.slice(1)));
      else this.hosts.add(normalHost(entry));
    }
  }

  /** Whether the hostname (as the URL parser gives it: lower case, maybe a trailing dot) is listed. */
  allowsHost(hostname: string): boolean {
    const host = normalHost(hostname);
    return this.hosts.has(host) || this.suffixes.some((suffix) => host.endsWith(suffix));
  }

  /** Whether the address is in a listed range. */
  allowsAddress(ip: IpAddress): boolean {
    const v4 = embeddedIPv4(ip);
    return this.ranges.some(
      (range) => cidrContains(range, ip) || (v4 !== undefined && cidrContains(range, v4)),
    );
  }
}

/** Why a string is not an allow entry (a hostname, `*.` hostname, IP address or CIDR), or undefined. */
export function allowEntryProblem(entry: unknown): string | undefined {
  if (typeof entry !== 'string' || entry === '') return 'must be a hostname, an IP address or a CIDR range';
  if (parseCidr(entry)) return undefined;
  const host = entry.toLowerCase();
  // A name ending in a number is an IPv4 address to the URL parser, so it must parse as one.
  const looksNumeric =
    /(^|\.)(0x[0-9a-f]*|[0-9]+)\.?$/.test(host) || host.includes(':') || host.includes('/');
  if (looksNumeric || !HOST_ENTRY.test(host.replace(/\.$/, '')) || host.length > 253) {
    return 'must be a hostname (hooks.internal, *.corp.example), an IP address (10.1.2.3, ::1) or a CIDR range (10.0.0.0/8, fd00::/8)';
  }
  return undefined;
}

function normalHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}
