import { daysOf, lastDays } from './periods';

const at = (iso: string) => new Date(iso);

describe('usage ranges (UTC days)', () => {
  it('lists every day of the last n days, today included', () => {
    const range = lastDays(3, at('2026-03-01T08:00:00Z'));
    expect(daysOf(range)).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
  });

  it('ends at the next UTC midnight, exclusive, as the usage reads expect', () => {
    const range = lastDays(1, at('2026-12-31T23:59:59Z'));
    expect(range.from.toISOString()).toBe('2026-12-31T00:00:00.000Z');
    expect(range.to.toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });
});
