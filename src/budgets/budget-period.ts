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

/** The last window worked out for each period, by the UTC day it was asked for. */
const lastWindows = new Map<BudgetPeriod, { day: number; window: Readonly<PeriodWindow> }>();

/**
 * The period containing `at`: a UTC day, a week from Monday 00:00 to the next Monday, or a
 * calendar month. Computed from the time alone, so spend is never reset by a job: a new
 * period simply has rows of its own, and the old ones stay. A window depends only on the
 * day, so the last one of each period is kept: every budgeted gateway call asks for its
 * window, twice, and two ISO dates formatted per call were about 1% of the call.
 */
export function periodOf(period: BudgetPeriod, at: Date): Readonly<PeriodWindow> {
  const time = at.getTime();
  const day = time - (((time % DAY_MS) + DAY_MS) % DAY_MS);
  const last = lastWindows.get(period);
  if (last?.day === day) {
    return last.window;
  }
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
  const window = Object.freeze({
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
  });
  lastWindows.set(period, { day, window });
  return window;
}
