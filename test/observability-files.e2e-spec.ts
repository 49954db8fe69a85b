import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
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

  it('charts what the guide tells operators to watch: error rate, p99, decisions by reason', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)).join('\n');
    expect(exprs).toMatch(/status_class="5xx"/);
    expect(exprs).toMatch(/histogram_quantile\(0\.99/);
    expect(exprs).toMatch(/sum by \(result, reason\) \(rate\(access_decisions_total/);
  });
});
