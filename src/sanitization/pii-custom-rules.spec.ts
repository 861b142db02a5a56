import { literalPrefix } from './pii-custom-rules';

describe('custom rules', () => {
  it('literal prefixes of custom patterns', () => {
    expect(literalPrefix('EMP-\\d{6}')).toEqual(['E', 'M', 'P', '-']);
    expect(literalPrefix('\\bEMP\\-\\d{6}\\b')).toEqual(['E', 'M', 'P', '\\-']);
    expect(literalPrefix('(?<![A-Z])AB?C')).toEqual(['A']);
    expect(literalPrefix('EMP-\\d+|X\\d+')).toEqual([]);
    expect(literalPrefix('(EMP|MGR)-\\d+')).toEqual([]);
    expect(literalPrefix('[A-Z]{3}-\\d+')).toEqual([]);
  });
});
