import { DataSource } from 'typeorm';
import { AuditRetentionService } from '../src/audit/audit-retention.service';
import { parseTimestamp } from '../src/common/validators';
import { DatabaseService } from '../src/database/database.service';
import { uniqueId, World } from './support/factories';
import { expectProblem, expectStatus } from './support/problems';
import { enc, startTestApp, TestApp } from './support/test-app';

/** Audit flooding: no-op writes, bounded bulk events, retention, CSV export, time filters. */
describe('audit log under abuse', () => {
  let t: TestApp;
  let w: World;
  let ds: DataSource;
  let db: DatabaseService;

  beforeAll(async () => {
    t = await startTestApp({ AUDIT_RETENTION_DAYS: '30' });
    w = new World(t);
    ds = t.app.get(DataSource);
    db = t.app.get(DatabaseService);
  });
  afterAll(async () => t.close());

  async function eventCount(): Promise<number> {
    const [row] = await ds.query<{ n: number | string }[]>(
      'SELECT COUNT(*) AS n FROM audit_events',
    );
    return Number(row.n);
  }

  it('writes no event for requests that change nothing, on every write route', async () => {
    const user = await w.user();
    const org = await w.org();
    const model = await w.model();
    await w.member(org, user, { role: 'admin' });
    await w.grant(org, model);
    const before = await eventCount();
    const u = await t.get(`/api/v1/users/${enc(user)}`);
    const m = await t.get(`/api/v1/models/${enc(model)}`);
    for (let i = 0; i < 5; i++) {
      expectStatus(
        await t.put(`/api/v1/users/${enc(user)}`, {
          name: u.body.name,
          email: u.body.email,
          role: u.body.role,
        }),
        200,
      );
      expectStatus(await t.put(`/api/v1/models/${enc(model)}`, { name: m.body.name }), 200);
      expectStatus(
        await t.post('/api/v1/models/bulk', { models: [{ id: model, name: m.body.name }] }),
        200,
      );
      expectStatus(await t.patch(`/api/v1/organizations/${org}`, { is_active: true }), 200);
      expectStatus(
        await t.put(`/api/v1/organizations/${org}/members/${enc(user)}`, { role: 'admin' }),
        200,
      );
      expectStatus(
        await t.post(`/api/v1/organizations/${org}/members/bulk`, {
          user_ids: [user],
          role: 'admin',
        }),
        200,
      );
      expectStatus(await t.put(`/api/v1/organizations/${org}/models/${enc(model)}`, {}), 200);
      expectStatus(
        await t.post(`/api/v1/organizations/${org}/models/bulk`, {
          grant: [model],
          revoke: ['never-granted/x'],
        }),
        200,
      );
    }
    expect(await eventCount()).toBe(before);
  });

  it('records a 1,000-user bulk add as counts and a bounded sample, and its 50 repeats not at all', async () => {
    const org = await w.org();
    const ids = Array.from({ length: 1000 }, (_, i) => `flood-${i}-${uniqueId('u')}`);
    await t.post('/api/v1/models/bulk', { models: [{ id: 'flood/model', name: 'Flood' }] });
    for (const id of ids) {
      await db.write((tx) =>
        tx.query(
          `INSERT INTO users (id, name, email, role, created_at, updated_at) VALUES ($1, $1, 'f@x.example', 'user', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`.replace(
            /\$1/g,
            `'${id}'`,
          ),
        ),
      );
    }
    const before = await eventCount();
    const first = await t.post(`/api/v1/organizations/${org}/members/bulk`, { user_ids: ids });
    expectStatus(first, 200);
    expect(first.body).toEqual({ added: 1000, updated: 0, unchanged: 0 });
    const repeats = await Promise.all(
      Array.from({ length: 50 }, () =>
        t.post(`/api/v1/organizations/${org}/members/bulk`, { user_ids: ids }),
      ),
    );
    expect(repeats.every((r) => r.status === 200 && r.body.unchanged === 1000)).toBe(true);
    expect(await eventCount()).toBe(before + 1);
    const [event] = await ds.query<{ after: string }[]>(
      "SELECT after FROM audit_events WHERE action = 'membership.bulk_add' ORDER BY id DESC LIMIT 1",
    );
    const after = JSON.parse(event.after);
    expect(after).toMatchObject({ added: 1000, updated: 0, unchanged: 0, role: 'member' });
    expect(after.changed_user_ids_sample).toEqual(ids.slice(0, 20));
    expect(event.after.length).toBeLessThan(2048);
  });

  it('deletes events older than AUDIT_RETENTION_DAYS in batches, and keeps the rest', async () => {
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
    const recent = new Date(Date.now() - 29 * 86_400_000).toISOString();
    const insert = async (createdAt: string, n: number) => {
      for (let i = 0; i < n; i += 100) {
        const values = Array.from(
          { length: Math.min(100, n - i) },
          () => `('system', 'test.old', 'user', 'x', NULL, NULL, '${createdAt}')`,
        ).join(',');
        await db.write((tx) =>
          tx.query(
            `INSERT INTO audit_events (actor, action, target_type, target_id, before, after, created_at) VALUES ${values}`,
          ),
        );
      }
    };
    await insert(old, 1234);
    await insert(recent, 3);
    const before = await eventCount();
    const sut = t.app.get(AuditRetentionService);
    expect(await sut.pruneNow()).toBe(1234);
    expect(await eventCount()).toBe(before - 1234);
    const [left] = await ds.query<{ n: number | string }[]>(
      "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'test.old'",
    );
    expect(Number(left.n)).toBe(3);
    expect(await sut.pruneNow()).toBe(0);
  });

  it('exports the filtered log as CSV, quoting what needs it and defusing formulas', async () => {
    const user = await w.user(uniqueId('csv'), { name: '=HYPERLINK("x"), "quoted"' });
    const json = await t.get(`/api/v1/audit?target_id=${enc(user)}&limit=500`);
    const csv = await t.get(`/api/v1/audit?target_id=${enc(user)}&format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.text.split('\r\n').filter((l) => l !== '');
    expect(lines[0]).toBe('id,created_at,actor,action,target_type,target_id,before,after');
    expect(lines).toHaveLength(1 + json.body.total);
    expect(lines[1]).toMatch(new RegExp(`^${json.body.data[0].id},`));
    expect(lines[1]).toContain('""name"":""=HYPERLINK(\\""x\\""), \\""quoted\\""""');
    const all = await t.get('/api/v1/audit?format=csv');
    const total = (await t.get('/api/v1/audit?limit=1')).body.total;
    expect(all.text.split('\r\n').filter((l) => l !== '').length).toBeGreaterThan(total);
    expectProblem(await t.get('/api/v1/audit?format=xml'), 400, ['format']);
  });

  it.each([
    '2020-W01',
    '2020-W01-1',
    '2020-366',
    '20200101',
    '2020-01-01T00Z',
    '2020-01-01T00:00:00,5Z',
    '-2020-01-01',
    '+002020-01-01',
    '2020-02-30',
    '2020-13-01',
    '2020-01-01T24:00:00Z',
    '2020-01-01T00:00:00+25:00',
    '2020-01-01 00:00:00Z',
    '2020',
  ])('refuses since=%s with 400 naming the field', async (since) => {
    expectProblem(await t.get(`/api/v1/audit?since=${enc(since)}`), 400, ['since']);
    expectProblem(await t.get(`/api/v1/audit?until=${enc(since)}`), 400, ['until']);
  });

  it.each([
    ['2020-01-01', '2020-01-01T00:00:00.000Z'],
    ['2020-01-01T10:00Z', '2020-01-01T10:00:00.000Z'],
    ['2020-01-01T10:00:30.5+01:00', '2020-01-01T09:00:30.500Z'],
    ['2020-02-29T23:59:59-00:30', '2020-03-01T00:29:59.000Z'],
  ])('accepts since=%s as the instant %s', async (since, instant) => {
    expect(parseTimestamp(since)?.toISOString()).toBe(instant);
    const res = await t.get(`/api/v1/audit?since=${enc(since)}&limit=1`);
    expectStatus(res, 200);
    const exact = await t.get(`/api/v1/audit?since=${enc(instant)}&limit=1`);
    expect(res.body.total).toBe(exact.body.total);
  });
});
