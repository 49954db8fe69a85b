import {
  formatInt,
  formatShare,
  formatTime,
  formatUsd,
  parseDomains,
  parseIdList,
  parseOptionalNumber,
  parseThresholds,
  toCsv,
} from './format';

describe('formatting', () => {
  it('formats money with cents, and small amounts with two significant digits', () => {
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(1234.5)).toBe('$1,234.50');
    expect(formatUsd(0.5)).toBe('$0.50');
    expect(formatUsd(0.00123)).toBe('$0.0012');
    expect(formatUsd(-2)).toBe('-$2.00');
    expect(formatUsd(Number.NaN)).toBe('—');
  });

  it('formats counts, shares and UTC times', () => {
    expect(formatInt(1234567)).toBe('1,234,567');
    expect(formatShare(25, 100)).toBe('25%');
    expect(formatShare(25, null)).toBe('—');
    expect(formatShare(25, 0)).toBe('—');
    expect(formatTime('2026-12-01T10:08:16.123Z')).toBe('2026-12-01 10:08 UTC');
    expect(formatTime('not a date')).toBe('not a date');
    expect(formatTime(null)).toBe('—');
  });
});

describe('parsing form input', () => {
  it('reads id lists separated by lines, commas, semicolons or spaces, once each', () => {
    expect(parseIdList(' u-1\nu-2, u-3;u-1  \n\n openai/* ')).toEqual([
      'u-1',
      'u-2',
      'u-3',
      'openai/*',
    ]);
    expect(parseIdList('  ')).toEqual([]);
  });

  it('reads alert thresholds as fractions or percentages, sorted', () => {
    expect(parseThresholds('1, 0.8')).toEqual([0.8, 1]);
    expect(parseThresholds('50% 100%')).toEqual([0.5, 1]);
    expect(parseThresholds('')).toEqual([]);
    expect(() => parseThresholds('1.5')).toThrow('"1.5" is not a fraction');
    expect(() => parseThresholds('0')).toThrow('"0" is not a fraction');
  });

  it('reads e-mail domains, lowercased, without a leading @', () => {
    expect(parseDomains('Acme.pl, @acme.com acme.pl')).toEqual(['acme.pl', 'acme.com']);
    expect(() => parseDomains('acme')).toThrow('"acme" is not an e-mail domain');
    expect(() => parseDomains('ac me.pl')).toThrow('"ac" is not an e-mail domain');
  });

  it('reads optional numbers', () => {
    expect(parseOptionalNumber(' ', 'Budget')).toBeNull();
    expect(parseOptionalNumber('12.5', 'Budget')).toBe(12.5);
    expect(() => parseOptionalNumber('-1', 'Budget')).toThrow(
      'Budget must be a number of 0 or more.',
    );
    expect(() => parseOptionalNumber('1.5', 'RPM', true)).toThrow(
      'RPM must be a whole number of 0 or more.',
    );
  });
});

describe(toCsv.name, () => {
  it('quotes what needs quoting and serialises objects as JSON', () => {
    expect(
      toCsv(
        ['a', 'b', 'c'],
        [
          { a: 'plain', b: 'with, comma', c: { x: '"q"' } },
          { a: null, b: 'line\nbreak', c: 3 },
        ],
      ),
    ).toBe('a,b,c\r\nplain,"with, comma","{""x"":""\\""q\\""""}"\r\n,"line\nbreak",3\r\n');
  });
});
