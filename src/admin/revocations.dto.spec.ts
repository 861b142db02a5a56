import { CompletionError, RequestErrorCode } from '../contract/error-code';
import {
  parseRevocationKind,
  parseRevocationListQuery,
  parseRevocationRequest,
  parseRevocationValue,
  revocationPage,
} from './revocations.dto';

function refusal(fn: () => unknown): { message: string; param?: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CompletionError);
    expect((err as CompletionError).code).toBe(RequestErrorCode.InvalidRequest);
    return { message: (err as CompletionError).message, param: (err as CompletionError).param };
  }
  throw new Error('expected a refusal');
}

describe('parseRevocationRequest', () => {
  it('takes a jti, with an expiry as ISO 8601 or seconds since the epoch, and a reason', () => {
    expect(parseRevocationRequest({ jti: 't-1' })).toEqual({ kind: 'jti', value: 't-1' });
    expect(parseRevocationRequest({ jti: 't-1', expiresAt: 1_800_000_000, reason: 'lost' })).toEqual({
      kind: 'jti',
      value: 't-1',
      expiresAt: 1_800_000_000_000,
      reason: 'lost',
    });
    expect(parseRevocationRequest({ jti: 't-1', expiresAt: '2027-01-15T08:00:00Z' })).toMatchObject({
      expiresAt: Date.parse('2027-01-15T08:00:00Z'),
    });
  });

  it('takes a sub, with an issuedBefore', () => {
    expect(parseRevocationRequest({ sub: 'bob' })).toEqual({ kind: 'sub', value: 'bob' });
    expect(parseRevocationRequest({ sub: 'bob', issuedBefore: '2027-01-15T08:00:00.000+01:00' })).toEqual({
      kind: 'sub',
      value: 'bob',
      issuedBefore: Date.parse('2027-01-15T07:00:00Z'),
    });
  });

  it('refuses everything else, naming the field', () => {
    const cases: Array<[unknown, string | undefined]> = [
      [undefined, undefined],
      ['t-1', undefined],
      [[], undefined],
      [{}, 'jti'],
      [{ jti: 't', sub: 'bob' }, 'sub'],
      [{ jti: '' }, 'jti'],
      [{ jti: 7 }, 'jti'],
      [{ jti: 'x'.repeat(257) }, 'jti'],
      [{ sub: 'x'.repeat(257) }, 'sub'],
      [{ jti: 't', issuedBefore: 1 }, 'issuedBefore'],
      [{ sub: 'bob', expiresAt: 1 }, 'expiresAt'],
      [{ jti: 't', expiresAt: 'tomorrow' }, 'expiresAt'],
      [{ jti: 't', expiresAt: '2027-01-15' }, 'expiresAt'],
      [{ jti: 't', expiresAt: 1_800_000_000_000 }, 'expiresAt'], // ms, not seconds
      [{ jti: 't', expiresAt: -5 }, 'expiresAt'],
      [{ sub: 'bob', reason: 'x'.repeat(501) }, 'reason'],
      [{ sub: 'bob', reason: 3 }, 'reason'],
      [{ sub: 'bob', iss: 'x' }, 'iss'],
    ];
    for (const [body, param] of cases) expect(refusal(() => parseRevocationRequest(body)).param).toBe(param);
  });
});

describe('the list query and the path', () => {
  it('parses kind, limit and offset', () => {
    expect(parseRevocationListQuery({})).toEqual({ limit: 100, offset: 0 });
    expect(parseRevocationListQuery({ kind: 'sub', limit: '5', offset: '10' })).toEqual({
      kind: 'sub',
      limit: 5,
      offset: 10,
    });
    for (const [query, param] of [
      [{ kind: 'iss' }, 'kind'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '1001' }, 'limit'],
      [{ offset: '-1' }, 'offset'],
      [{ page: '2' }, 'page'],
    ] as const) {
      expect(refusal(() => parseRevocationListQuery(query)).param).toBe(param);
    }
    expect(parseRevocationKind('jti')).toBe('jti');
    expect(refusal(() => parseRevocationKind('user')).param).toBe('kind');
    expect(refusal(() => parseRevocationValue('jti', 'x'.repeat(300))).param).toBe('value');
  });

  it('pages and shows times as ISO 8601', () => {
    const t = Date.parse('2027-01-15T08:00:00Z');
    const entries = [
      { kind: 'sub' as const, value: 'bob', revokedAt: t, issuedBefore: t, retainUntil: t + 1_000 },
      { kind: 'jti' as const, value: 'a', revokedAt: t, expiresAt: t, retainUntil: t, revokedBy: 'root' },
      { kind: 'jti' as const, value: 'b', revokedAt: t, retainUntil: t, reason: 'why' },
    ];
    expect(revocationPage(entries, { kind: 'jti', limit: 1, offset: 1 })).toEqual({
      data: [
        {
          kind: 'jti',
          value: 'b',
          revokedAt: '2027-01-15T08:00:00.000Z',
          retainedUntil: '2027-01-15T08:00:00.000Z',
          reason: 'why',
        },
      ],
      total: 2,
      limit: 1,
      offset: 1,
    });
    expect(revocationPage(entries, { limit: 10, offset: 0 }).data[0]).toEqual({
      kind: 'sub',
      value: 'bob',
      revokedAt: '2027-01-15T08:00:00.000Z',
      issuedBefore: '2027-01-15T08:00:00.000Z',
      retainedUntil: '2027-01-15T08:00:01.000Z',
    });
  });
});
