import { currentPeriod, daysOf, lastDays } from './periods';

const at = (iso: string) => new Date(iso);
const iso = (r: { from: Date; to: Date }) => [r.from.toISOString(), r.to.toISOString()];

describe('budget periods (UTC)', () => {
  it('daily is the UTC day', () => {
    expect(iso(currentPeriod('daily', at('2026-12-01T23:59:59Z')))).toEqual([
      '2026-12-01T00:00:00.000Z',
      '2026-12-02T00:00:00.000Z',
    ]);
  });

  it('weekly runs Monday to Sunday, also when today is Sunday or Monday', () => {
    // 2026-12-06 is a Sunday, 2026-11-30 a Monday.
    expect(iso(currentPeriod('weekly', at('2026-12-06T12:00:00Z')))).toEqual([
      '2026-11-30T00:00:00.000Z',
      '2026-12-07T00:00:00.000Z',
    ]);
    expect(iso(currentPeriod('weekly', at('2026-11-30T00:00:00Z')))[0]).toBe(
      '2026-11-30T00:00:00.000Z',
    );
  });

  it('monthly runs from the first, across a year end', () => {
    expect(iso(currentPeriod('monthly', at('2026-12-31T23:00:00Z')))).toEqual([
      '2026-12-01T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
    ]);
  });

  it('lists every day of the last n days, today included', () => {
    const range = lastDays(3, at('2026-03-01T08:00:00Z'));
    expect(daysOf(range)).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
  });
});
