import type { Worker } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import { WalCheckpointer } from '../src/database/wal-checkpointer';
import { HealthController } from '../src/health/health.controller';
import { enc, startTestApp, TestApp } from './support/test-app';
import { onPostgres } from './support/test-database';
import { World } from './support/factories';

describe(HealthController.name, () => {
  let t: TestApp;
  let world: World;
  const users: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestApp();
    world = new World(t);
    const model = await world.model('openai/gpt-4o');
    const active = await world.org('ops-active');
    const archived = await world.org('ops-archived');
    const empty = await world.org('ops-empty');
    await world.grant(active, model);
    await world.grant(archived, model);
    await world.archive(archived);

    users.none = await world.user('ops-no-org');
    users.suspended = await world.user('ops-suspended');
    await world.member(active, users.suspended, { is_active: false });
    users.archivedOnly = await world.user('ops-archived-only');
    await world.member(archived, users.archivedOnly);
    users.noModels = await world.user('ops-no-models');
    await world.member(empty, users.noModels);
    users.healthy = await world.user('ops/healthy:1');
    await world.member(active, users.healthy, { role: 'admin' });
    await world.member(archived, users.healthy);
    users.plain = await world.user('ops-plain', { role: 'user' });
  });

  afterAll(async () => {
    await t.close();
  });

  describe('GET /health', () => {
    it('answers 200 with the database up, without credentials', async () => {
      const res = await t.get('/health', null);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
    });
  });

  describe('GET /health/detailed', () => {
    it('refuses anonymous callers with 401', async () => {
      const res = await t.get('/health/detailed', null);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
    });

    it('refuses a plain user with 403', async () => {
      expect((await t.get('/health/detailed', t.tokenFor(users.plain))).status).toBe(403);
    });

    it('reports every check up with counts, indexes, migrations and query timings', async () => {
      const res = await t.get('/health/detailed');
      expect(res.status).toBe(200);
      const info = res.body.info;
      for (const key of [
        'database',
        'disk',
        'memory_heap',
        'memory_rss',
        'migrations',
        'indexes',
        'rows',
        'hot_queries',
      ]) {
        expect(info[key]?.status).toBe('up');
      }
      expect(info.rows).toMatchObject({
        users: 6,
        models: 1,
        organizations: 3,
        organization_members: 5,
        organization_models: 2,
      });
      expect(info.rows.audit_events).toBeGreaterThan(10);
      expect(info.migrations).toMatchObject({ pending: [], unknown: [] });
      expect(info.migrations.applied).toBeGreaterThan(0);
      expect(info.indexes.missing).toEqual([]);
      // 12 secondary indexes (3 of them on usage_events) and 7 primary keys
      expect(info.indexes.expected).toBe(19);
      expect(info.disk.total_bytes).toBeGreaterThan(0);
      expect(info.memory_heap.used_bytes).toBeGreaterThan(0);
      expect(info.memory_heap.limit_bytes).toBe(t.config.healthHeapLimitBytes);
      expect(info.memory_rss.used_bytes).toBeGreaterThan(info.memory_heap.used_bytes);
      expect(info.memory_rss.limit_bytes).toBe(t.config.healthRssLimitBytes);
      expect(info.disk.used_fraction).toBeLessThanOrEqual(1);
      expect(info.hot_queries.sample).toBe('member');
      for (const key of ['user_lookup_ms', 'membership_lookup_ms', 'grant_lookup_ms']) {
        expect(typeof info.hot_queries[key]).toBe('number');
      }
      if (t.config.databaseKind === 'sqlite') {
        // a file database: its WAL is checkpointed by the worker thread, not inside commits
        expect(info.wal_checkpoints).toMatchObject({ status: 'up', checkpoints_by: 'thread' });
      }
    });
  });

  describe('GET /health/model-access/:userId', () => {
    it('refuses anonymous callers with 401 and plain users with 403', async () => {
      const url = `/health/model-access/${enc(users.healthy)}`;
      expect((await t.get(url, null)).status).toBe(401);
      expect((await t.get(url, t.tokenFor(users.plain))).status).toBe(403);
    });

    it('answers 404 for an unknown user', async () => {
      const res = await t.get('/health/model-access/nobody-here');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
    });

    it.each([
      ['none', 'no_organization'],
      ['suspended', 'inactive'],
      ['archivedOnly', 'inactive'],
      ['noModels', 'no_models'],
      ['healthy', 'healthy'],
    ])('reports the %s user as %s', async (who, status) => {
      const res = await t.get(`/health/model-access/${enc(users[who])}`);
      expect(res.status).toBe(200);
      expect(res.body.user_id).toBe(users[who]);
      expect(res.body.status).toBe(status);
    });

    it('lists the memberships and the models behind a healthy status', async () => {
      const res = await t.get(`/health/model-access/${enc(users.healthy)}`);
      expect(res.body.memberships).toEqual([
        {
          organization_id: 'ops-active',
          organization_name: 'Org ops-active',
          role: 'admin',
          is_active: true,
          organization_active: true,
          usable: true,
        },
        expect.objectContaining({ organization_id: 'ops-archived', usable: false }),
      ]);
      expect(res.body.models).toEqual([{ id: 'openai/gpt-4o', organizations: ['ops-active'] }]);
    });

    it('shows why a suspended member sees nothing', async () => {
      const res = await t.get(`/health/model-access/${users.suspended}`);
      expect(res.body.memberships).toEqual([
        expect.objectContaining({ organization_id: 'ops-active', is_active: false, usable: false }),
      ]);
      expect(res.body.models).toEqual([]);
    });
  });
});

describe(`${HealthController.name} when something is wrong`, () => {
  it('reports memory_heap down with 503 when the heap limit is below the heap in use', async () => {
    const t = await startTestApp({ HEALTH_HEAP_LIMIT_MB: '16' });
    try {
      const res = await t.get('/health/detailed');
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('error');
      expect(res.body.error.memory_heap.status).toBe('down');
      expect(res.body.error.memory_heap.used_bytes).toBeGreaterThan(16 * 1024 * 1024);
      expect(res.body.info.database.status).toBe('up');
    } finally {
      await t.close();
    }
  });

  it('names a missing index, then answers 503 on /health once the database is closed', async () => {
    const t = await startTestApp();
    try {
      const dataSource = t.app.get(DataSource);
      await dataSource.query('DROP INDEX idx_members_user_id');
      const detailed = await t.get('/health/detailed');
      expect(detailed.status).toBe(503);
      expect(detailed.body.error.indexes.missing).toEqual(['idx_members_user_id']);

      await dataSource.destroy();
      const res = await t.get('/health', null);
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toContain('application/json');
      expect(res.body).toMatchObject({
        status: 'error',
        error: { database: { status: 'down' } },
        details: { database: { status: 'down' } },
      });
    } finally {
      await t.close();
    }
  });

  (onPostgres() ? it.skip : it)(
    'shows SQLite checkpointing again once the checkpoint thread died; closing stops the thread',
    async () => {
      const t = await startTestApp();
      const checkpointer = t.app.get(WalCheckpointer);
      // the thread behind the checkpointer, ended as a crash would end it
      const thread = (checkpointer as unknown as { worker: Worker }).worker;
      try {
        await thread.terminate();
        const res = await t.get('/health/detailed');
        expect(res.status).toBe(200);
        expect(res.body.info.wal_checkpoints).toMatchObject({
          status: 'up',
          checkpoints_by: 'sqlite',
          reason: expect.stringMatching(/exited with code/),
        });
      } finally {
        await t.close();
      }

      const second = await startTestApp();
      const running = (second.app.get(WalCheckpointer) as unknown as { worker: Worker }).worker;
      expect(running.threadId).toBeGreaterThan(0);
      await second.close();
      expect(running.threadId).toBe(-1); // Node's mark of a thread that no longer runs
      expect(second.app.get(WalCheckpointer).state().reason).toBe('stopped');
    },
  );
});
