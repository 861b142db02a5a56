import { AddressAllowList } from '../common/net/address-allow-list';
import {
  type HostLookup,
  resolveTarget,
  TARGET_REFUSED,
  TargetRefused,
  webhookUrlProblem,
} from './webhook-target';

const NONE = new AddressAllowList([]);

/** A resolver answering from a table, counting its calls. */
function table(answers: Record<string, string[]>): HostLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = (hostname: string) => {
    calls.push(hostname);
    const found = answers[hostname];
    if (!found) return Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
    return Promise.resolve(found.map((address) => ({ address })));
  };
  return Object.assign(lookup, { calls });
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TargetRefused) return err.detail;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('webhookUrlProblem', () => {
  it.each([
    ['ftp://example.com/', 'must be an absolute http: or https: URL'],
    ['file:///etc/passwd', 'must be an absolute http: or https: URL'],
    ['/relative', 'must be an absolute http: or https: URL'],
    [42, 'must be an absolute http: or https: URL'],
    ['https://user:pass@example.com/', 'must not carry credentials (user:password@); send them in headers'],
    ['https://user@example.com/', 'must not carry credentials (user:password@); send them in headers'],
    ['https://:pass@example.com/', 'must not carry credentials (user:password@); send them in headers'],
    ['http://0x7f000001/', TARGET_REFUSED],
    ['http://[::ffff:7f00:1]/', TARGET_REFUSED],
    ['http://169.254.169.254/', TARGET_REFUSED],
  ])('%p: %s', (url, message) => expect(webhookUrlProblem(url, NONE)).toBe(message));

  it('leaves hostnames to the call (they are checked after DNS)', () => {
    expect(webhookUrlProblem('http://localhost/', NONE)).toBeUndefined();
    expect(webhookUrlProblem('https://hooks.example.com/x?y=1', NONE)).toBeUndefined();
  });
});

describe('resolveTarget', () => {
  it('keeps a public literal, refuses a listed kind of literal', async () => {
    const lookup = table({});
    await expect(resolveTarget('8.8.8.8', NONE, lookup)).resolves.toBe('8.8.8.8');
    await expect(resolveTarget('2606:4700::1111', NONE, lookup)).resolves.toBe('2606:4700::1111');
    expect(await refusal(resolveTarget('127.0.0.1', NONE, lookup))).toBe('loopback address 127.0.0.1');
    expect(await refusal(resolveTarget('[::ffff:a9fe:a9fe]', NONE, lookup))).toBe(
      'link_local address ::ffff:a9fe:a9fe',
    );
    expect(lookup.calls).toEqual([]);
  });

  it('resolves a name once and connects to the address it checked', async () => {
    const lookup = table({ 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'] });
    await expect(resolveTarget('hooks.example.com', NONE, lookup)).resolves.toBe('93.184.216.34');
    expect(lookup.calls).toEqual(['hooks.example.com']);
  });

  it.each([
    [['127.0.0.1'], 'loopback'],
    [['93.184.216.34', '10.0.0.5'], 'private'],
    [['::1'], 'loopback'],
    [['::ffff:192.168.0.1'], 'private'],
    [['100.64.1.1'], 'cgnat'],
    [['fe80::1%eth0'], 'reserved'],
    [['0.0.0.0'], 'unspecified'],
  ])('refuses a name resolving to %p (%s), whatever else it resolves to', async (addresses, kind) => {
    const lookup = table({ 'evil.example': addresses });
    expect(await refusal(resolveTarget('evil.example', NONE, lookup))).toContain(`a ${kind} address`);
  });

  it('refuses a name that does not resolve, or resolves to nothing', async () => {
    expect(await refusal(resolveTarget('nowhere.example', NONE, table({})))).toBe(
      'nowhere.example did not resolve (ENOTFOUND)',
    );
    expect(await refusal(resolveTarget('empty.example', NONE, table({ 'empty.example': [] })))).toBe(
      'empty.example resolved to no usable address',
    );
  });

  it('lets the allow list open addresses, ranges and names', async () => {
    const allow = new AddressAllowList(['127.0.0.0/8', 'hooks.internal']);
    const lookup = table({
      'loop.example': ['127.0.0.1'],
      'hooks.internal': ['10.9.9.9'],
      mix: ['127.0.0.2', '10.0.0.1'],
    });
    await expect(resolveTarget('127.0.0.1', allow, lookup)).resolves.toBe('127.0.0.1');
    await expect(resolveTarget('::ffff:127.0.0.1', allow, lookup)).resolves.toBe('::ffff:7f00:1');
    await expect(resolveTarget('loop.example', allow, lookup)).resolves.toBe('127.0.0.1');
    await expect(resolveTarget('hooks.internal', allow, lookup)).resolves.toBe('10.9.9.9');
    expect(await refusal(resolveTarget('mix', allow, lookup))).toBe(
      'mix resolved to a private address (10.0.0.1)',
    );
  });
});
