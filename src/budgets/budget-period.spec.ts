import { BUDGET_PERIODS, periodOf } from './budget-period';

describe(periodOf.name, () => {
  const at = (iso: string) => new Date(iso);

  it('starts a daily period at UTC midnight and ends at the next', () => {
    expect(periodOf('daily', at('2026-03-10T23:59:59.999Z'))).toEqual({
      start: '2026-03-10T00:00:00.000Z',
      end: '2026-03-11T00:00:00.000Z',
    });
    expect(periodOf('daily', at('2026-03-11T00:00:00.000Z')).start).toBe(
      '2026-03-11T00:00:00.000Z',
    );
  });

  it('runs a weekly period from Monday to Sunday', () => {
    // 2026-03-09 is a Monday, 2026-03-15 a Sunday
    const sunday = periodOf('weekly', at('2026-03-15T23:59:59.999Z'));
    expect(sunday).toEqual({ start: '2026-03-09T00:00:00.000Z', end: '2026-03-16T00:00:00.000Z' });
    expect(periodOf('weekly', at('2026-03-09T00:00:00.000Z')).start).toBe(sunday.start);
    expect(periodOf('weekly', at('2026-03-16T00:00:00.000Z')).start).toBe(
      '2026-03-16T00:00:00.000Z',
    );
  });

  it('keeps a week that spans two months or two years together', () => {
    expect(periodOf('weekly', at('2027-01-01T12:00:00Z'))).toEqual({
      start: '2026-12-28T00:00:00.000Z',
      end: '2027-01-04T00:00:00.000Z',
    });
  });

  it('runs a monthly period over the calendar month, leap February included', () => {
    expect(periodOf('monthly', at('2028-02-29T18:00:00Z'))).toEqual({
      start: '2028-02-01T00:00:00.000Z',
      end: '2028-03-01T00:00:00.000Z',
    });
    expect(periodOf('monthly', at('2026-12-31T23:59:59.999Z')).end).toBe(
      '2027-01-01T00:00:00.000Z',
    );
  });

  it('ignores the local time zone of the process', () => {
    // a Date is an instant; periods are read with UTC getters only
    expect(periodOf('daily', at('2026-06-01T00:30:00+02:00')).start).toBe(
      '2026-05-31T00:00:00.000Z',
    );
  });

  it('answers every hour of two years right, asked in order and out of order', () => {
    const hours: number[] = [];
    for (let t = Date.UTC(2027, 0, 1); t < Date.UTC(2029, 0, 1); t += 3_600_000) {
      hours.push(t);
    }
    // in order (the kept window is reused within a day), then shuffled (it is not)
    const shuffled = [...hours].sort((a, b) => ((a * 7919) % 1009) - ((b * 7919) % 1009));
    const wrong: string[] = [];
    for (const t of [...hours, ...shuffled]) {
      for (const period of BUDGET_PERIODS) {
        const instant = new Date(t);
        const { start, end } = periodOf(period, instant);
        const from = new Date(start);
        const to = new Date(end);
        const length = to.getTime() - from.getTime();
        const right =
          from.getTime() <= t &&
          to.getTime() > t &&
          from.getUTCHours() + from.getUTCMinutes() + to.getUTCHours() === 0 &&
          (period === 'daily'
            ? length === 86_400_000
            : period === 'weekly'
              ? from.getUTCDay() === 1 && length === 7 * 86_400_000
              : from.getUTCDate() === 1 &&
                to.getUTCDate() === 1 &&
                to.getUTCMonth() === (instant.getUTCMonth() + 1) % 12);
        if (!right) {
          wrong.push(`${period} at ${instant.toISOString()}: ${start} to ${end}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
