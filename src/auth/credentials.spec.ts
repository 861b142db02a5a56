import { bearerToken, cookieToken, queryToken, requestToken } from './credentials';

describe('credentials', () => {
  it('reads a bearer token, any case of the scheme, and nothing else', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken(['Bearer one', 'Bearer two'])).toBe('one');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('reads access_token from a query string and a cookie by name', () => {
    expect(queryToken('/x?a=1&access_token=t0k&b=2')).toBe('t0k');
    expect(queryToken('/x?access_token=')).toBeUndefined();
    expect(queryToken('/x')).toBeUndefined();
    expect(cookieToken('theme=dark; cb_token=abc%2Edef', 'cb_token')).toBe('abc.def');
    expect(cookieToken('cb_token_old=1; other=2', 'cb_token')).toBeUndefined();
    expect(cookieToken(undefined, 'cb_token')).toBeUndefined();
  });

  it('prefers the header, and reads the URL and cookie only where allowed', () => {
    const headers = { authorization: 'Bearer h', cookie: 'cb_token=c' };
    expect(requestToken(headers, '/s?access_token=q', { cookieName: 'cb_token' })).toBe('h');
    expect(requestToken({ cookie: 'cb_token=c' }, '/s?access_token=q', { cookieName: 'cb_token' })).toBe('q');
    expect(requestToken({ cookie: 'cb_token=c' }, '/s', { cookieName: 'cb_token' })).toBe('c');
    expect(requestToken({ cookie: 'cb_token=c' }, '/s?access_token=q', undefined)).toBeUndefined();
    // A cookie that may not count (its origin): the query still does, the cookie does not.
    expect(requestToken({ cookie: 'cb_token=c' }, '/s?access_token=q', { cookieName: undefined })).toBe('q');
    expect(requestToken({ cookie: 'cb_token=c' }, '/s', { cookieName: undefined })).toBeUndefined();
  });
});
