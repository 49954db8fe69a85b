import { Global, Module } from '@nestjs/common';
import {
  getToken,
  makeGaugeProvider,
  makeHistogramProvider,
  PrometheusModule,
} from '@willsoto/nestjs-prometheus';
import { ModelAccessModule } from '../model-access/model-access.module';
import {
  ACCESS_DECISIONS,
  DATABASE_QUERY_DURATION,
  HTTP_REQUEST_DURATION,
  ORGANIZATION_BUDGET,
  ORGANIZATION_BUDGET_RESETS,
  ORGANIZATION_BUDGET_SPENT,
  ORGANIZATION_GRANTS,
  ORGANIZATION_MEMBERS,
  ORGANIZATIONS,
} from './metric-names';
import { BudgetGauges } from './budget-gauges';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { TallyCounter } from './tally-counter';
import { TallyHistogram } from './tally-histogram';

/** Service-level objectives sit in the milliseconds: fine buckets below 100 ms. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Global so that MetricsController, which PrometheusModule declares in its own scope,
 * can inject MetricsService.
 */
@Global()
@Module({
  imports: [
    // Process metrics are registered by MetricsService, once per process.
    PrometheusModule.register({
      controller: MetricsController,
      defaultMetrics: { enabled: false },
    }),
    ModelAccessModule,
  ],
  providers: [
    MetricsService,
    BudgetGauges,
    {
      provide: getToken(HTTP_REQUEST_DURATION),
      useFactory: () =>
        TallyHistogram.registered(
          HTTP_REQUEST_DURATION,
          'Time from request received to response sent, by route template and status class.',
          ['method', 'route', 'status_class'],
          LATENCY_BUCKETS,
        ),
    },
    {
      provide: getToken(ACCESS_DECISIONS),
      useFactory: () =>
        TallyCounter.registered(
          ACCESS_DECISIONS,
          'Access checks answered, by result (allowed, denied) and reason.',
          ['result', 'reason'],
        ),
    },
    makeHistogramProvider({
      name: DATABASE_QUERY_DURATION,
      help: 'Duration of database reads and write transactions (including waiting for the SQLite write lock).',
      labelNames: ['operation', 'outcome'],
      buckets: QUERY_BUCKETS,
    }),
    makeGaugeProvider({
      name: ORGANIZATIONS,
      help: 'Organizations by state (active, archived), counted at scrape time.',
      labelNames: ['state'],
    }),
    makeGaugeProvider({
      name: ORGANIZATION_MEMBERS,
      help: 'Memberships by state (active, suspended), counted at scrape time.',
      labelNames: ['state'],
    }),
    makeGaugeProvider({
      name: ORGANIZATION_GRANTS,
      help: 'Model grants (ids and patterns) by state (active, inactive), counted at scrape time.',
      labelNames: ['state'],
    }),
    makeGaugeProvider({
      name: ORGANIZATION_BUDGET,
      help: 'Budget in USD per period of each active organization that has one (period: daily, weekly, monthly), read at scrape time.',
      labelNames: ['organization', 'period'],
    }),
    makeGaugeProvider({
      name: ORGANIZATION_BUDGET_SPENT,
      help: 'Settled gateway spend in USD of each budgeted active organization in its current budget period (what the access rule compares with organization_budget_usd), read at scrape time.',
      labelNames: ['organization'],
    }),
    makeGaugeProvider({
      name: ORGANIZATION_BUDGET_RESETS,
      help: "Unix time at which each budgeted active organization's current budget period ends and its spend starts again from zero, read at scrape time.",
      labelNames: ['organization'],
    }),
  ],
  exports: [MetricsService, BudgetGauges],
})
export class MetricsModule {}
