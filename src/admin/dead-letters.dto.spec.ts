import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { parseBatchReplay, parseListQuery } from './dead-letters.dto';

const ID = 'dl-0123456789abcdef0123456789abcdef';

function refusal(fn: () => unknown): { code: string; param?: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CompletionError) return { code: err.code, param: err.param };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('dead-letter admin inputs', () => {
  it('reads a list query, normalizing times to UTC ISO', () => {
    expect(parseListQuery({})).toEqual({});
    expect(parseListQuery(undefined)).toEqual({});
    expect(
      parseListQuery({
        limit: '10',
        offset: '20',
        kind: 'provider_timeout',
        provider: 'openai',
        since: '2026-01-01',
        until: '2026-01-02T03:04:05+02:00',
      }),
    ).toEqual({
      limit: 10,
      offset: 20,
      kind: 'provider_timeout',
      provider: 'openai',
      since: '2026-01-01T00:00:00.000Z',
      until: '2026-01-02T01:04:05.000Z',
    });
  });

  it.each([
    [{ limit: '0' }, 'limit'],
    [{ limit: '501' }, 'limit'],
    [{ limit: '1.5' }, 'limit'],
    [{ limit: ['1', '2'] }, 'limit'],
    [{ offset: '-1' }, 'offset'],
    [{ kind: 'model_not_found' }, 'kind'],
    [{ provider: '' }, 'provider'],
    [{ since: 'last week' }, 'since'],
    [{ until: '12345' }, 'until'],
    [{ since: '2026-02-01', until: '2026-01-01' }, 'since'],
    [{ page: '2' }, 'page'],
  ])('refuses the query %j (param %s)', (query, param) => {
    expect(refusal(() => parseListQuery(query))).toEqual({ code: RequestErrorCode.InvalidRequest, param });
  });

  it('reads a batch replay body: criteria, ids and limit (default 100)', () => {
    expect(parseBatchReplay(undefined)).toEqual({ criteria: {}, limit: 100 });
    expect(parseBatchReplay({})).toEqual({ criteria: {}, limit: 100 });
    expect(parseBatchReplay({ kind: 'connection_lost', ids: [ID], limit: 1000 })).toEqual({
      criteria: { kind: 'connection_lost', ids: [ID] },
      limit: 1000,
    });
  });

  it.each([
    ['a string', 'kind=x', undefined],
    ['an array', [], undefined],
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 1001', { limit: 1001 }, 'limit'],
    ['a string limit', { limit: '5' }, 'limit'],
    ['ids not an array', { ids: ID }, 'ids'],
    ['a malformed id', { ids: [ID, 'dl-1'] }, 'ids'],
    ['an unknown field', { offset: 1 }, 'offset'],
  ])('refuses a batch body with %s', (_what, body, param) => {
    expect(refusal(() => parseBatchReplay(body))).toEqual({ code: RequestErrorCode.InvalidRequest, param });
  });
});
