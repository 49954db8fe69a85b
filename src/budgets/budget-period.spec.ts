import { periodOf } from './budget-period';

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
});
