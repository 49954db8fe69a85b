import parsePrometheusTextFormat, { PrometheusFamily } from 'parse-prometheus-text-format';
import { MetricsController } from '../src/metrics/metrics.controller';
import { DataSource } from 'typeorm';
import { expectProblem } from './support/problems';
import { enc, startTestApp, TestApp } from './support/test-app';
import { World } from './support/factories';

/**
 * Scrapes /metrics and parses it with a real Prometheus text-format parser.
 * parse-prometheus-text-format 1.1 collapses the series of a labelled histogram into
 * one unlabelled sample, so histograms are parsed twice: as declared (name, type,
 * help) and, with their TYPE line turned to untyped, as plain `_bucket`, `_sum` and
 * `_count` series that keep their labels (families of one name are then merged).
 */
async function scrape(t: TestApp, token: string | null = null): Promise<PrometheusFamily[]> {
  const res = await t.get('/metrics', token);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const declared = parsePrometheusTextFormat(res.text);
  const series = parsePrometheusTextFormat(
    res.text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped'),
  );
  const merged = new Map<string, PrometheusFamily>();
  for (const f of [...declared.filter((f) => f.type === 'HISTOGRAM'), ...series]) {
    const seen = merged.get(f.name);
    if (seen) {
      seen.metrics.push(...(seen.type === 'HISTOGRAM' ? [] : f.metrics));
    } else {
      merged.set(f.name, { ...f, metrics: f.type === 'HISTOGRAM' ? [] : [...f.metrics] });
    }
  }
  return [...merged.values()];
}

function family(families: PrometheusFamily[], name: string): PrometheusFamily {
  const found = families.find((f) => f.name === name);
  if (!found) {
    throw new Error(`metric ${name} is missing`);
  }
  return found;
}

/**
 * The sample value (or histogram count) whose labels include `labels`. A missing series fails,
 * unless `absent` says what it stands for (only a "before" scrape, for a series not yet born).
 */
function valueOf(
  families: PrometheusFamily[],
  name: string,
  labels: Record<string, string>,
  absent?: number,
): number {
  const histogram = family(families, name).type === 'HISTOGRAM';
  const sample = family(families, histogram ? `${name}_count` : name).metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
  );
  if (sample === undefined) {
    if (absent !== undefined) {
      return absent;
    }
    throw new Error(`metric ${name} has no series ${JSON.stringify(labels)}`);
  }
  return Number(sample.value);
}

/** How much a series grew between two scrapes; it must exist in the second. */
function growth(
  before: PrometheusFamily[],
  after: PrometheusFamily[],
  name: string,
  labels: Record<string, string>,
): number {
  return valueOf(after, name, labels) - valueOf(before, name, labels, 0);
}

describe(MetricsController.name, () => {
  let t: TestApp;
  let world: World;
  let member: string;
  let stranger: string;
  let model: string;

  beforeAll(async () => {
    t = await startTestApp();
    world = new World(t);
    model = await world.model('openai/gpt-4o');
    const org = await world.org('metrics-org');
    await world.grant(org, model);
    await world.grant(org, 'anthropic/*', false);
    const archived = await world.org('metrics-archived');
    await world.archive(archived);
    member = await world.user('metrics-member-1');
    await world.member(org, member);
    stranger = await world.user('metrics-stranger-2');
    await world.member(archived, stranger, { is_active: false });
  });

  afterAll(async () => {
    await t.close();
  });

  it('is public when METRICS_TOKEN is unset, and holds the process metrics', async () => {
    const families = await scrape(t, null);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(family(families, name)).toBeDefined();
    }
  });

  it('counts requests by route template and status class, and access decisions by result', async () => {
    const before = await scrape(t);
    await t.get(`/api/v1/users/${enc(member)}`);
    await t.get(`/api/v1/users/${enc(stranger)}`);
    await t.get('/api/v1/users/no-such-user-77');
    await t.get('/no/such/route/42');
    const check = (userId: string, modelId: string) =>
      t.get(`/api/v1/access/check?user_id=${enc(userId)}&model_id=${enc(modelId)}`);
    expect((await check(member, model)).body.allowed).toBe(true);
    expect((await check(member, model)).body.allowed).toBe(true);
    expect((await check(stranger, model)).body.reason).toBe('membership_inactive');
    expect((await check(member, 'nobody/none')).body.reason).toBe('model_not_found');
    const after = await scrape(t);

    const delta = (name: string, labels: Record<string, string>) =>
      growth(before, after, name, labels);
    const users = { method: 'GET', route: '/api/v1/users/:id' };
    expect(delta('http_request_duration_seconds', { ...users, status_class: '2xx' })).toBe(2);
    expect(delta('http_request_duration_seconds', { ...users, status_class: '4xx' })).toBe(1);
    expect(
      delta('http_request_duration_seconds', {
        method: 'GET',
        route: '/api/v1/access/check',
        status_class: '2xx',
      }),
    ).toBe(4);
    expect(
      delta('http_request_duration_seconds', {
        method: 'GET',
        route: 'unmatched',
        status_class: '4xx',
      }),
    ).toBe(1);

    expect(delta('access_decisions_total', { result: 'allowed', reason: 'granted' })).toBe(2);
    expect(
      delta('access_decisions_total', { result: 'denied', reason: 'membership_inactive' }),
    ).toBe(1);
    expect(delta('access_decisions_total', { result: 'denied', reason: 'model_not_found' })).toBe(
      1,
    );
    expect(delta('access_decisions_total', { result: 'denied', reason: 'no_grant' })).toBe(0);
  });

  it('labels routes with templates, never raw paths or ids', async () => {
    const families = await scrape(t);
    expect(family(families, 'http_request_duration_seconds').type).toBe('HISTOGRAM');
    const http = family(families, 'http_request_duration_seconds_count');
    const routes = new Set(http.metrics.map((m) => m.labels?.route));
    expect(routes).toContain('/api/v1/users/:id');
    for (const route of routes) {
      expect(route).not.toMatch(/metrics-member|metrics-stranger|no-such|42|gpt-4o/);
    }
    for (const m of http.metrics) {
      expect(m.labels?.status_class).toMatch(/^[1-5]xx$/);
      expect(Object.keys(m.labels ?? {}).sort()).toEqual(['method', 'route', 'status_class']);
    }
  });

  it('reports organizations, members and grants by state, counted at scrape time', async () => {
    let families = await scrape(t);
    expect(valueOf(families, 'organizations', { state: 'active' })).toBe(1);
    expect(valueOf(families, 'organizations', { state: 'archived' })).toBe(1);
    expect(valueOf(families, 'organization_members', { state: 'active' })).toBe(1);
    expect(valueOf(families, 'organization_members', { state: 'suspended' })).toBe(1);
    expect(valueOf(families, 'organization_grants', { state: 'active' })).toBe(1);
    expect(valueOf(families, 'organization_grants', { state: 'inactive' })).toBe(1);
    expect(family(families, 'organizations').type).toBe('GAUGE');

    await world.org('metrics-third');
    families = await scrape(t);
    expect(valueOf(families, 'organizations', { state: 'active' })).toBe(2);
  });

  it('times database reads and writes', async () => {
    const families = await scrape(t);
    const db = family(families, 'database_query_duration_seconds');
    expect(db.type).toBe('HISTOGRAM');
    expect(
      valueOf(families, 'database_query_duration_seconds', {
        operation: 'write',
        outcome: 'success',
      }),
    ).toBeGreaterThan(5);
    expect(
      valueOf(families, 'database_query_duration_seconds', {
        operation: 'read',
        outcome: 'success',
      }),
    ).toBeGreaterThan(0);
  });

  it('records a database write that fails as outcome="error", and not as a success', async () => {
    const failing = 'metrics-forced-failure';
    await forceInsertFailure(t, 'users', failing);
    const before = await scrape(t);
    const res = await t.put(`/api/v1/users/${failing}`, {
      name: 'Forced failure',
      email: 'forced@example.com',
      role: 'user',
    });
    const after = await scrape(t);
    expectProblem(res, 500);
    expect(res.text).not.toMatch(/forced failure|trigger|INSERT/i);
    const write = { operation: 'write' };
    expect(
      growth(before, after, 'database_query_duration_seconds', { ...write, outcome: 'error' }),
    ).toBe(1);
    expect(
      growth(before, after, 'database_query_duration_seconds', { ...write, outcome: 'success' }),
    ).toBe(0);
    // the same write of another id succeeds: the failure was the database's, not the request's
    expect(
      (
        await t.put('/api/v1/users/metrics-not-forced', {
          name: 'N',
          email: 'n@example.com',
          role: 'user',
        })
      ).status,
    ).toBe(201);
  });

  it('follows the naming conventions: _total counters, base units', async () => {
    const families = await scrape(t);
    const ours = families.filter(
      (f) =>
        !f.name.startsWith('process_') &&
        !f.name.startsWith('nodejs_') &&
        !/_(bucket|sum|count)$/.test(f.name),
    );
    expect(ours.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        'access_decisions_total',
        'database_query_duration_seconds',
        'http_request_duration_seconds',
        'organization_grants',
        'organization_members',
        'organizations',
      ]),
    );
    for (const f of ours) {
      expect(f.help.length).toBeGreaterThan(10);
      if (f.type === 'COUNTER') {
        expect(f.name).toMatch(/_total$/);
      }
      if (f.type === 'HISTOGRAM') {
        expect(f.name).toMatch(/_seconds$/);
      }
    }
  });
});

describe(`${MetricsController.name} with METRICS_TOKEN`, () => {
  const token = 'metrics-token-0123456789abcdef-0123456789';
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ METRICS_TOKEN: token, AUTH_FAILURE_LIMIT: '3' });
  });

  afterAll(async () => {
    await t.close();
  });

  it('serves the metrics to the bearer of the token', async () => {
    const families = await scrape(t, token);
    expect(family(families, 'http_request_duration_seconds')).toBeDefined();
  });

  it('refuses no token, another token and an admin API key with 401 problem+json', async () => {
    for (const given of [null, 'not-the-metrics-token', undefined]) {
      const res = await t.get('/metrics', given);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.text).not.toContain('# TYPE');
    }
  });

  it('answers 429 once the failures from one address pass AUTH_FAILURE_LIMIT', async () => {
    const res = await t.get('/metrics', 'still-wrong');
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.body.status).toBe(429);
  });
});

/**
 * Makes the database itself refuse one insert (a trigger that raises for one id), so a real
 * request takes the real error path: no test hook in the service.
 */
async function forceInsertFailure(t: TestApp, table: string, id: string): Promise<void> {
  const ds = t.app.get(DataSource);
  if (t.config.databaseKind === 'sqlite') {
    await ds.query(
      `CREATE TRIGGER forced_failure BEFORE INSERT ON ${table} WHEN NEW.id = '${id}' ` +
        `BEGIN SELECT RAISE(ABORT, 'forced failure'); END`,
    );
  } else {
    await ds.query(
      `CREATE FUNCTION forced_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
        `IF NEW.id = '${id}' THEN RAISE EXCEPTION 'forced failure'; END IF; RETURN NEW; END $$`,
    );
    await ds.query(
      `CREATE TRIGGER forced_failure BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION forced_failure()`,
    );
  }
}
