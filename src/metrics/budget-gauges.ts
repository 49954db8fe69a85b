import { Inject, Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Gauge } from 'prom-client';
import { bind, ORGANIZATION_ROW } from '../budgets/budget-ledger.service';
import { BUDGET_PERIODS, periodOf } from '../budgets/budget-period';
import { nanosToUsd, numberOrNull, parsePeriod } from '../budgets/budget-settings';
import { Clock, CLOCK } from '../budgets/clock';
import { DatabaseService } from '../database/database.service';
import * as Metric from './metric-names';

/**
 * Budget gauges of every active organization with a budget, read from the database when
 * /metrics is scraped (one query, whatever the number of organizations): the budget, the
 * settled spend of the current period and when the period resets. The same figures as
 * `GET /api/v1/organizations/:id/budget`, so every replica reports the same values.
 */
@Injectable()
export class BudgetGauges {
  constructor(
    @InjectMetric(Metric.ORGANIZATION_BUDGET)
    private readonly budget: Gauge<'organization' | 'period'>,
    @InjectMetric(Metric.ORGANIZATION_BUDGET_SPENT)
    private readonly spent: Gauge<'organization'>,
    @InjectMetric(Metric.ORGANIZATION_BUDGET_RESETS)
    private readonly resets: Gauge<'organization'>,
    private readonly db: DatabaseService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async refresh(): Promise<void> {
    const now = this.clock.now();
    // The current period of each kind: $1..$3 their starts, in BUDGET_PERIODS order.
    const windows = BUDGET_PERIODS.map((period) => periodOf(period, now));
    const periodStart = BUDGET_PERIODS.map((p, i) => `WHEN '${p}' THEN $${i + 1}`).join(' ');
    const [sql, params] = bind(
      this.db.kind,
      'SELECT o.id, o.budget_usd, o.budget_period, s.spent_nanos FROM organizations o ' +
        'LEFT JOIN budget_spend s ON s.organization_id = o.id AND s.user_id = $4 ' +
        `AND s.period_start = CASE o.budget_period ${periodStart} ELSE $3 END ` +
        'WHERE o.budget_usd IS NOT NULL AND o.is_active = $5',
      [...windows.map((w) => w.start), ORGANIZATION_ROW, true],
    );
    const rows = await this.db.read((m) => m.query<Record<string, unknown>[]>(sql, params));
    // Reset first: an organization whose budget was removed or that was archived disappears.
    this.budget.reset();
    this.spent.reset();
    this.resets.reset();
    for (const row of rows) {
      const organization = String(row.id);
      const period = parsePeriod(row.budget_period);
      const window = windows[BUDGET_PERIODS.indexOf(period)];
      this.budget.set({ organization, period }, numberOrNull(row.budget_usd) ?? 0);
      this.spent.set({ organization }, nanosToUsd(Number(row.spent_nanos ?? 0)));
      this.resets.set({ organization }, Date.parse(window.end) / 1000);
    }
  }
}
