import { acceptCard, acceptIban, ibanValid, luhnValid } from './pii-validators';

describe('validators', () => {
  it('Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('378282246310005')).toBe(true);
  });

  it('cards: grouping must be regular and the separator consistent', () => {
    expect(acceptCard('4111 1111 1111 1111')).toBe(19);
    expect(acceptCard('4111 1111-1111 1111')).toBe(0);
    expect(acceptCard('41 1111 1111 111111')).toBe(0);
  });

  it('IBAN mod-97', () => {
    expect(ibanValid('DE89370400440532013000')).toBe(true);
    expect(ibanValid('DE89370400440532013001')).toBe(false);
    expect(ibanValid('DE8937040044')).toBe(false);
    expect(acceptIban('BE68 5390 0754 7034 THEN')).toBe('BE68 5390 0754 7034'.length);
  });
});
