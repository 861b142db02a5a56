import { PiiRuleSet } from './pii-rule-set';

describe('rule set', () => {
  it('resolves overlaps: the earlier start wins, then the longer match', () => {
    const custom = new PiiRuleSet({
      entities: ['ssn'],
      customRules: [
        { name: 'ref', pattern: 'ID:\\d{3}', max_length: 6 },
        { name: 'short', pattern: '\\d{3}-\\d{2}', max_length: 6 },
      ],
      maskStyle: 'label',
      maxHoldback: 256,
    });
    expect(custom.mask('ID:123-45-6789')).toBe('[REF]-45-6789');
    expect(custom.mask('no 123-45-6789')).toBe('no [SSN]');
  });
});
