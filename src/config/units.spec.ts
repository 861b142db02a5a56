import { parseDuration, parseSize } from './units';

describe('parseDuration', () => {
  it.each([
    ['100ms', 100],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['250', 250],
    [' 10 s ', 10_000],
    [42, 42],
    [0, 0],
  ])('parses %p as %p ms', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each(['abc', '10x', '-5s', '', '1d', null, undefined, true, -1, Number.NaN, {}])(
    'rejects %p',
    (input) => {
      expect(parseDuration(input)).toBeUndefined();
    },
  );
});

describe('parseSize', () => {
  it.each([
    ['512B', 512],
    ['64KB', 65_536],
    ['10MB', 10 * 1024 * 1024],
    ['1GB', 1024 ** 3],
    ['1.5kb', 1536],
    ['2MiB', 2 * 1024 * 1024],
    ['4096', 4096],
    [100, 100],
  ])('parses %p as %p bytes', (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });

  it.each(['ten', '10TB', '-1MB', '', 'MB', null, false, -5])('rejects %p', (input) => {
    expect(parseSize(input)).toBeUndefined();
  });
});
