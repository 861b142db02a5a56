import { StreamErrorCode } from '../contract/error-code';
import { meetsCriteria, newestFirst, pageOf } from './dead-letter-query';
import { storedLetter } from './testing/dead-letters';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 12, minute)).toISOString();

describe('dead-letter queries', () => {
  const a = storedLetter({ kind: StreamErrorCode.ProviderTimeout, providers: ['openai'], failedAt: at(1) });
  const b = storedLetter({
    kind: StreamErrorCode.RateLimitExceeded,
    providers: ['openai', 'anthropic'],
    failedAt: at(2),
  });
  const c = storedLetter({ kind: StreamErrorCode.ProviderTimeout, providers: ['google'], failedAt: at(3) });
  // Queue order (newest added first) differs from failure order: c was spooled and drained late.
  const queued = [b, c, a];

  const ids = (letters: Array<{ id: string }>) => letters.map((l) => l.id);

  it('orders by failure time, newest first, whatever the queue order', () => {
    expect(ids(newestFirst(queued))).toEqual(ids([c, b, a]));
  });

  it('keeps queue order among letters that failed at the same time', () => {
    const x = storedLetter({ failedAt: at(5) });
    const y = storedLetter({ failedAt: at(5) });
    expect(ids(newestFirst([y, x]))).toEqual(ids([y, x]));
  });

  it('selects by kind, by any attempt provider, by time and by id', () => {
    const only = (criteria: Parameters<typeof meetsCriteria>[1]) =>
      ids(newestFirst(queued.filter((l) => meetsCriteria(l, criteria))));
    expect(only({ kind: StreamErrorCode.ProviderTimeout })).toEqual(ids([c, a]));
    expect(only({ provider: 'anthropic' })).toEqual(ids([b]));
    expect(only({ provider: 'openai' })).toEqual(ids([b, a]));
    expect(only({ since: at(2) })).toEqual(ids([c, b]));
    expect(only({ until: at(2) })).toEqual(ids([b, a]));
    expect(only({ since: at(2), until: at(2) })).toEqual(ids([b]));
    expect(only({ ids: [a.id, c.id] })).toEqual(ids([c, a]));
    expect(only({ kind: StreamErrorCode.ProviderTimeout, provider: 'openai' })).toEqual(ids([a]));
    expect(only({ kind: StreamErrorCode.Internal })).toEqual([]);
  });

  it('pages after selecting, with the total of all pages', () => {
    expect(pageOf(queued, { limit: 2 })).toMatchObject({ total: 3, limit: 2, offset: 0 });
    expect(ids(pageOf(queued, { limit: 2 }).data)).toEqual(ids([c, b]));
    expect(ids(pageOf(queued, { limit: 2, offset: 2 }).data)).toEqual(ids([a]));
    expect(pageOf(queued, { offset: 5 })).toEqual({ data: [], total: 3, limit: 50, offset: 5 });
    expect(pageOf(queued, { kind: StreamErrorCode.ProviderTimeout, limit: 1, offset: 1 })).toEqual({
      data: [a],
      total: 2,
      limit: 1,
      offset: 1,
    });
  });
});
