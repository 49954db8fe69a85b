import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BudgetLedgerService, ORGANIZATION_ROW } from '../src/budgets/budget-ledger.service';
import { usdToNanos } from '../src/budgets/budget-settings';
import { FakeClock } from './support/budget-fixtures';
import { World } from './support/factories';
import { enc, startTestApp, TestApp } from './support/test-app';

const ROOT = join(__dirname, '..');
const JOB_SELECTOR = /([a-zA-Z_:][a-zA-Z0-9_:]*)\{job="model-access"/g;
/** Series Prometheus makes itself, not the service. */
const PROMETHEUS_OWN = new Set(['up']);

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  id: number;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { uid: string };
  targets: { expr: string; refId: string }[];
}

const rules = (
  parse(readFileSync(join(ROOT, 'docker/prometheus/alerts.yml'), 'utf8')) as {
    groups: { rules: Rule[] }[];
  }
).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(
  readFileSync(join(ROOT, 'docker/grafana/model-access.json'), 'utf8'),
) as { uid: string; panels: Panel[] };

/** Metric names an expression selects; every selector must name job="model-access". */
function selectedMetrics(expr: string): string[] {
  return [...expr.matchAll(JOB_SELECTOR)].map((m) => m[1]);
}

/** `foo_bucket` / `foo_count` / `foo_sum` of a histogram are series of `foo`. */
function family(name: string, exported: Set<string>): string {
  const base = name.replace(/_(bucket|count|sum)$/, '');
  return exported.has(name) ? name : base;
}

describe('docker/prometheus/alerts.yml and docker/grafana/model-access.json', () => {
  let t: TestApp;
  let exported: Set<string>;

  beforeAll(async () => {
    t = await startTestApp();
    const w = new World(t);
    const org = await w.org('observability-org');
    const user = await w.user('observability-user');
    await w.member(org, user);
    const model = await w.model('observability/model');
    await w.grant(org, model);
    await t.get(`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`);
    const res = await t.get('/metrics', null);
    expect(res.status).toBe(200);
    exported = new Set([...res.text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]));
    expect(exported.size).toBeGreaterThan(10);
  });
  afterAll(async () => t.close());

  it('gives every alert a severity and a summary, and selects only metrics the service exports', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8);
    const unknown: string[] = [];
    for (const rule of rules) {
      expect(['critical', 'warning']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
      const names = selectedMetrics(rule.expr);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        if (!PROMETHEUS_OWN.has(name) && !exported.has(family(name, exported))) {
          unknown.push(`${rule.alert}: ${name}`);
        }
      }
    }
    expect(unknown).toEqual([]);
  });

  it('builds every dashboard panel on the datasource variable and on exported metrics', () => {
    expect(dashboard.uid).toBe('model-access');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const unknown: string[] = [];
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid).toBe('${datasource}');
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const target of panel.targets) {
        const names = selectedMetrics(target.expr);
        expect(names.length).toBeGreaterThan(0);
        for (const name of names) {
          if (!exported.has(family(name, exported))) {
            unknown.push(`${panel.title}: ${name}`);
          }
        }
      }
    }
    expect(unknown).toEqual([]);
  });

  it("lists every metric of the service in the guide's metrics table", () => {
    const guide = readFileSync(join(ROOT, 'PRODUCTION_DEPLOYMENT_GUIDE.md'), 'utf8');
    const listed = new Set([...guide.matchAll(/^\| `([a-z_:]+)` \|/gm)].map((m) => m[1]));
    const own = [...exported].filter((name) => !/^(process|nodejs)_/.test(name));
    expect(own.length).toBeGreaterThan(8);
    expect(own.filter((name) => !listed.has(name))).toEqual([]);
  });

  it('lays the panels out on the 24-column grid without overlaps', () => {
    const overlapping: string[] = [];
    dashboard.panels.forEach((a, i) => {
      expect(a.gridPos.x + a.gridPos.w).toBeLessThanOrEqual(24);
      for (const b of dashboard.panels.slice(i + 1)) {
        const apart =
          a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
          b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
          a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
          b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        if (!apart) {
          overlapping.push(`${a.title} / ${b.title}`);
        }
      }
    });
    expect(overlapping).toEqual([]);
  });

  it('charts what the guide tells operators to watch: error rate, p99, decisions by reason, spend and budgets', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)).join('\n');
    expect(exprs).toMatch(/status_class="5xx"/);
    expect(exprs).toMatch(/histogram_quantile\(0\.99/);
    expect(exprs).toMatch(/sum by \(result, reason\) \(rate\(access_decisions_total/);
    expect(exprs).toMatch(/sum by \(organization\) \(increase\(gateway_cost_usd_total/);
    expect(exprs).toMatch(
      /organization_budget_spent_usd\{[^}]*\}\) \/ max by \(organization\) \(organization_budget_usd/,
    );
  });

  it('alerts on the same figures, spend by organization and budget thresholds included', () => {
    const byName = new Map(rules.map((r) => [r.alert, r.expr]));
    expect(byName.get('ModelAccessHighErrorRate')).toMatch(/status_class="5xx"/);
    expect(byName.get('ModelAccessSlowChecks')).toMatch(/histogram_quantile\(0\.99/);
    expect(byName.get('ModelAccessDenialsSpike')).toMatch(/access_decisions_total/);
    expect(byName.get('ModelAccessGatewaySpendSurge')).toMatch(/gateway_cost_usd_total/);
    expect(byName.get('ModelAccessGatewayUpstreamErrors')).toMatch(/gateway_requests_total/);
    for (const name of [
      'ModelAccessBudgetNearlySpent',
      'ModelAccessBudgetExhausted',
      'ModelAccessBudgetRunsOutBeforeReset',
    ]) {
      expect(byName.get(name)).toMatch(
        /organization_budget_spent_usd[\s\S]*organization_budget_usd/,
      );
    }
  });
});

describe('budget gauges on /metrics', () => {
  const clock = new FakeClock('2026-12-19T14:00:00.000Z');
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({}, undefined, { clock });
  });
  afterAll(async () => t.close());

  /** The value of one series of /metrics, or undefined when absent. */
  async function sample(name: string, labels: string): Promise<number | undefined> {
    const res = await t.get('/metrics', null);
    const line = res.text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  }

  async function setBudget(org: string, body: Record<string, unknown>): Promise<void> {
    const res = await t.patch(`/api/v1/organizations/${enc(org)}/budget`, body);
    expect(res.status).toBe(200);
  }

  it('reports each budgeted active organization: budget, settled spend this period, reset time', async () => {
    const w = new World(t);
    const [monthly, daily, unbudgeted, archived] = await Promise.all([
      w.org('gauges-monthly'),
      w.org('gauges-daily'),
      w.org('gauges-none'),
      w.org('gauges-archived'),
    ]);
    await setBudget(monthly, { budget_usd: 250, budget_period: 'monthly' });
    await setBudget(daily, { budget_usd: 0.5, budget_period: 'daily' });
    await setBudget(archived, { budget_usd: 10 });
    await w.archive(archived);

    const ledger = t.app.get(BudgetLedgerService);
    const spend = async (org: string, periodStart: string, usd: number): Promise<void> => {
      const scope = { organizationId: org, userId: ORGANIZATION_ROW, periodStart };
      const held = await ledger.reserve([scope], usdToNanos(usd), [Number.MAX_SAFE_INTEGER]);
      if (!held.held) {
        throw new Error(`reservation refused for ${org}`);
      }
      await ledger.settle(held.reservation, usdToNanos(usd));
    };
    await spend(monthly, '2026-12-01T00:00:00.000Z', 200.25);
    await spend(monthly, '2026-11-01T00:00:00.000Z', 3); // last month: not counted
    await spend(daily, '2026-12-19T00:00:00.000Z', 0.125);

    expect(
      await sample('organization_budget_usd', `organization="${monthly}",period="monthly"`),
    ).toBe(250);
    expect(await sample('organization_budget_spent_usd', `organization="${monthly}"`)).toBe(200.25);
    expect(
      await sample('organization_budget_resets_timestamp_seconds', `organization="${monthly}"`),
    ).toBe(Date.parse('2027-01-01T00:00:00.000Z') / 1000);
    expect(await sample('organization_budget_usd', `organization="${daily}",period="daily"`)).toBe(
      0.5,
    );
    expect(await sample('organization_budget_spent_usd', `organization="${daily}"`)).toBe(0.125);
    expect(
      await sample('organization_budget_resets_timestamp_seconds', `organization="${daily}"`),
    ).toBe(Date.parse('2026-12-20T00:00:00.000Z') / 1000);
    for (const org of [unbudgeted, archived]) {
      expect(
        await sample('organization_budget_spent_usd', `organization="${org}"`),
      ).toBeUndefined();
    }

    // The next day: a new daily period with nothing spent yet; removing a budget removes its series.
    clock.set('2026-12-20T08:00:00.000Z');
    expect(await sample('organization_budget_spent_usd', `organization="${daily}"`)).toBe(0);
    await setBudget(monthly, { budget_usd: null });
    expect(
      await sample('organization_budget_usd', `organization="${monthly}",period="monthly"`),
    ).toBeUndefined();
  });
});
