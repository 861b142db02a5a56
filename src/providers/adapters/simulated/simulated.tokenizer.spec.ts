import { countTokens, tokenize } from './simulated.tokenizer';

describe('simulated tokenizer', () => {
  it.each([
    'Hello, world!',
    '  leading and trailing  ',
    'multi\nline\r\ntext\twith tabs',
    'émoji 👩‍💻 and 日本語のテキスト',
    "don't split contractions",
    '',
    '   ',
    'a',
  ])('splits %p into tokens that join back exactly', (text) => {
    const tokens = tokenize(text);
    expect(tokens.join('')).toBe(text);
    expect(countTokens(text)).toBe(tokens.length);
  });

  it('gives words and punctuation their own tokens', () => {
    expect(tokenize('Hi, you.')).toEqual(['Hi', ',', ' you', '.']);
  });
});
