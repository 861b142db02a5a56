import { lookup as dnsLookup } from 'node:dns/promises';
import type { AddressAllowList } from '../common/net/address-allow-list';
import { type AddressKind, classifyIp, formatIp, type IpAddress, parseIp } from '../common/net/ip-address';

/**
 * Where webhook actions may send requests. Checked when a definition is made (scheme, credentials, literal
 * addresses) and again for every connection (hostnames, after DNS): only public addresses, unless the
 * operator's `workflows.webhooks.allow` lists the host, the address or its range.
 */

/** The one message for every refused target in a definition (whatever kind of address it is). */
export const TARGET_REFUSED =
  'must not point to a loopback, private, link-local, CGNAT, multicast, broadcast or reserved address (an operator can allow one in workflows.webhooks.allow)';

/** Resolves a hostname to every address it has (the default: the system resolver, as `getaddrinfo` sees it). */
export type HostLookup = (hostname: string) => Promise<Array<{ address: string }>>;

export const systemLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** A connection the policy refused; `detail` is for the operator's log only. */
export class TargetRefused extends Error {
  constructor(readonly detail: string) {
    super('webhook target refused');
  }
}

/** Why a URL cannot be a webhook's, or undefined: http/https only, no credentials, no refused literal address. */
export function webhookUrlProblem(raw: unknown, allow: AddressAllowList): string | undefined {
  let url: URL | undefined;
  try {
    url = typeof raw === 'string' ? new URL(raw) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return 'must be an absolute http: or https: URL';
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not carry credentials (user:password@); send them in headers';
  }
  const literal = parseIp(url.hostname);
  if (literal && refusedKind(literal, allow)) return TARGET_REFUSED;
  return undefined;
}

/**
 * The address to connect to for a host: a literal address as it is, a name resolved once. Every address
 * must be allowed (public, or listed), else TargetRefused; the first is the one connected to, so a second
 * DNS answer (rebinding) never matters. A listed hostname may resolve to anything.
 */
export async function resolveTarget(
  hostname: string,
  allow: AddressAllowList,
  lookup: HostLookup,
): Promise<string> {
  const literal = parseIp(hostname);
  if (literal) {
    const kind = refusedKind(literal, allow);
    if (kind) throw new TargetRefused(`${kind} address ${formatIp(literal)}`);
    return formatIp(literal);
  }
  let answers: Array<{ address: string }>;
  try {
    answers = await lookup(hostname);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new TargetRefused(`${hostname} did not resolve (${typeof code === 'string' ? code : 'error'})`);
  }
  const addresses = answers.map((a) => parseIp(a.address));
  if (!allow.allowsHost(hostname)) {
    for (const [i, ip] of addresses.entries()) {
      // An address that does not parse (a zone id, say) is refused like a reserved one.
      const kind = ip ? refusedKind(ip, allow) : 'reserved';
      if (kind) throw new TargetRefused(`${hostname} resolved to a ${kind} address (${answers[i]!.address})`);
    }
  }
  const first = addresses.find((ip) => ip !== undefined);
  if (!first) throw new TargetRefused(`${hostname} resolved to no usable address`);
  return formatIp(first);
}

/** The kind of a refused address, or undefined when it may be connected to. */
function refusedKind(ip: IpAddress, allow: AddressAllowList): AddressKind | undefined {
  const kind = classifyIp(ip);
  return kind === 'public' || allow.allowsAddress(ip) ? undefined : kind;
}
