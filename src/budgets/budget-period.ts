/** Budget periods, all in UTC, as OpenRouter resets its key limits. */
export const BUDGET_PERIODS = ['daily', 'weekly', 'monthly'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export interface PeriodWindow {
  /** First instant of the period (inclusive), ISO 8601 UTC. */
  start: string;
  /** First instant of the next period (exclusive): when the budget resets. */
  end: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The period containing `at`: a UTC day, a week from Monday 00:00 to the next Monday, or a
 * calendar month. Computed from the time alone, so spend is never reset by a job: a new
 * period simply has rows of its own, and the old ones stay.
 */
export function periodOf(period: BudgetPeriod, at: Date): PeriodWindow {
  const day = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
  let start: number;
  let end: number;
  if (period === 'daily') {
    start = day;
    end = day + DAY_MS;
  } else if (period === 'weekly') {
    // getUTCDay: Sunday 0 ... Saturday 6; days since Monday.
    start = day - ((at.getUTCDay() + 6) % 7) * DAY_MS;
    end = start + 7 * DAY_MS;
  } else {
    start = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1);
    end = Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1);
  }
  return { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
}
