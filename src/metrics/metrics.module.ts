import { Global, Module } from '@nestjs/common';
import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
  PrometheusModule,
} from '@willsoto/nestjs-prometheus';
import { ModelAccessModule } from '../model-access/model-access.module';
import {
  ACCESS_DECISIONS,
  DATABASE_QUERY_DURATION,
  HTTP_REQUEST_DURATION,
  ORGANIZATION_GRANTS,
  ORGANIZATION_MEMBERS,
  ORGANIZATIONS,
} from './metric-names';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

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
    makeHistogramProvider({
      name: HTTP_REQUEST_DURATION,
      help: 'Time from request received to response sent, by route template and status class.',
      labelNames: ['method', 'route', 'status_class'],
      buckets: LATENCY_BUCKETS,
    }),
    makeCounterProvider({
      name: ACCESS_DECISIONS,
      help: 'Access checks answered, by result (allowed, denied) and reason.',
      labelNames: ['result', 'reason'],
    }),
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
  ],
  exports: [MetricsService],
})
export class MetricsModule {}
