import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { collectDefaultMetrics, Gauge, Histogram, register } from 'prom-client';
import { EntityManager } from 'typeorm';
import { DatabaseService } from '../database/database.service';
import { AccessDecision, REFUSAL_REASONS } from '../model-access/access-rule';
import { AccessService } from '../model-access/access.service';
import * as Metric from './metric-names';
import { TallyCounter } from './tally-counter';
import { TallyHistogram } from './tally-histogram';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** The decision counter's series keys, by result then reason. */
const DECISION_KEYS: Record<'allowed' | 'denied', Record<string, string>> = {
  allowed: {},
  denied: {},
};

const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

type StateGauge = Gauge<'state'>;

/**
 * Owns the service's metrics. Everything on the request path is one observe or inc
 * on a pre-registered metric; the organization gauges are counted from the database
 * only when /metrics is scraped.
 */
@Injectable()
export class MetricsService {
  constructor(
    @InjectMetric(Metric.HTTP_REQUEST_DURATION)
    private readonly httpDuration: TallyHistogram,
    @InjectMetric(Metric.ACCESS_DECISIONS)
    private readonly decisions: TallyCounter,
    @InjectMetric(Metric.DATABASE_QUERY_DURATION)
    private readonly queryDuration: Histogram<'operation' | 'outcome'>,
    @InjectMetric(Metric.ORGANIZATIONS) private readonly organizations: StateGauge,
    @InjectMetric(Metric.ORGANIZATION_MEMBERS) private readonly members: StateGauge,
    @InjectMetric(Metric.ORGANIZATION_GRANTS) private readonly grants: StateGauge,
    private readonly db: DatabaseService,
    access: AccessService,
  ) {
    // The default registry is per process; a second app in the same process (tests)
    // must not register the process metrics twice.
    if (!register.getSingleMetric('process_cpu_user_seconds_total')) {
      collectDefaultMetrics();
      // prom-client's nodejs_active_{handles,requests,resources}_total are gauges with a
      // counter's suffix (promtool check metrics warns); the same figures stay available,
      // by type, as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
      for (const name of MISNAMED_DEFAULT_GAUGES) {
        register.removeSingleMetric(name);
      }
    }
    this.decisions.inc('allowed granted', ['allowed', 'granted'], 0);
    for (const reason of REFUSAL_REASONS) {
      this.decisions.inc(`denied ${reason}`, ['denied', reason], 0);
    }
    access.onDecision((decision) => this.recordDecision(decision));
    this.instrument(db);
  }

  /** Called once per response from the Fastify onResponse hook. */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    const statusClass = STATUS_CLASSES[Math.floor(statusCode / 100) - 1] ?? 'other';
    this.httpDuration.observe(
      `${method} ${route} ${statusClass}`,
      [method, route, statusClass],
      seconds,
    );
  }

  recordDecision(decision: AccessDecision): void {
    const result = decision.allowed ? 'allowed' : 'denied';
    // The key of each label set, built once: a decision's reason is one of a few words.
    const key = (DECISION_KEYS[result][decision.reason] ??= `${result} ${decision.reason}`);
    this.decisions.inc(key, [result, decision.reason]);
  }

  /** Sets the organization, member and grant gauges from three GROUP BY counts. */
  async refreshGauges(): Promise<void> {
    const counts = await this.db.read(async (m) => ({
      organizations: await countByActive(m, 'organizations'),
      members: await countByActive(m, 'organization_members'),
      grants: await countByActive(m, 'organization_models'),
    }));
    setStates(this.organizations, counts.organizations, 'archived');
    setStates(this.members, counts.members, 'suspended');
    setStates(this.grants, counts.grants, 'inactive');
  }

  /** Times every unit of database work (DatabaseService.read and .write, lock waits included). */
  private instrument(db: DatabaseService): void {
    const histogram = this.queryDuration;
    db.setTimer((operation, outcome, seconds) =>
      histogram.observe({ operation, outcome }, seconds),
    );
  }
}

async function countByActive(
  m: EntityManager,
  table: string,
): Promise<{ active: number; inactive: number }> {
  const rows = await m
    .createQueryBuilder()
    .select('t.is_active', 'is_active')
    .addSelect('COUNT(*)', 'n')
    .from(table, 't')
    .groupBy('t.is_active')
    .getRawMany<{ is_active: unknown; n: string | number }>();
  const counts = { active: 0, inactive: 0 };
  for (const row of rows) {
    const active = row.is_active === true || row.is_active === 1 || row.is_active === '1';
    counts[active ? 'active' : 'inactive'] += Number(row.n);
  }
  return counts;
}

function setStates(
  gauge: StateGauge,
  counts: { active: number; inactive: number },
  inactiveState: string,
): void {
  gauge.set({ state: 'active' }, counts.active);
  gauge.set({ state: inactiveState }, counts.inactive);
}
