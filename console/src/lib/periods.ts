/** Budget periods, in UTC as the upstream resets its key limits: the day, Monday-to-Sunday week, month. */

export type BudgetPeriod = 'daily' | 'weekly' | 'monthly';

export interface Range {
  from: Date;
  /** Exclusive. */
  to: Date;
}

/** The period that contains `now`. */
export function currentPeriod(period: BudgetPeriod, now: Date): Range {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  switch (period) {
    case 'daily':
      return { from: new Date(Date.UTC(y, m, d)), to: new Date(Date.UTC(y, m, d + 1)) };
    case 'weekly': {
      const sinceMonday = (now.getUTCDay() + 6) % 7;
      return {
        from: new Date(Date.UTC(y, m, d - sinceMonday)),
        to: new Date(Date.UTC(y, m, d - sinceMonday + 7)),
      };
    }
    case 'monthly':
      return { from: new Date(Date.UTC(y, m, 1)), to: new Date(Date.UTC(y, m + 1, 1)) };
  }
}

/** The last `days` whole UTC days up to and including today. */
export function lastDays(days: number, now: Date): Range {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  return { from: new Date(Date.UTC(y, m, d - days + 1)), to: new Date(Date.UTC(y, m, d + 1)) };
}

/** Every UTC day (`YYYY-MM-DD`) of a range, for a chart with no gaps. */
export function daysOf(range: Range): string[] {
  const days: string[] = [];
  for (let t = range.from.getTime(); t < range.to.getTime(); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}
