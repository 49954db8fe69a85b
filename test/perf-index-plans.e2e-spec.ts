import { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/load-config';
import { createDataSource } from '../src/database/data-source';
import { runMigrations } from '../src/database/migrate';
import { CASCADES, HOT_QUERIES } from '../src/model-access/hot-queries';
import { explainHotQuery } from '../tools/lib/perf-plans';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * The hot queries (the SQL the access cache and the monitor run, from hot-queries.ts) are
 * served by their indexes, read from the database's own plans. On PostgreSQL the tables
 * here are tiny, so the planner rightly prefers sequential scans: the session sets
 * enable_seqscan = off to ask whether an index CAN serve each query (a missing index would
 * still show a Seq Scan then). SQLite plans by the schema alone, so no such switch is needed.
 */
describe('hot query plans', () => {
  let db: TestDatabase;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = createDataSource(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'fatal' }));
    await ds.initialize();
    await runMigrations(ds);
  });
  afterAll(async () => {
    await ds.destroy();
    await db.drop();
  });

  it.each(HOT_QUERIES.map((q) => [q.name, q] as const))('%s uses its index', async (_, query) => {
    const report = await explainHotQuery(ds, query, { forceIndexes: true });
    expect({ plan: report.plan, usesIndex: report.usesIndex }).toEqual({
      plan: report.plan,
      usesIndex: true,
    });
    expect(report.expectedIndex).toBe(true);
  });

  it('reports a query no index can serve as not using one', async () => {
    const report = await explainHotQuery(
      ds,
      {
        name: 'users_by_name',
        description: 'unindexed on purpose',
        fills: 'users',
        reads: { users: null },
        table: 'users',
        indexes: ['primary key'],
        sql: () => 'SELECT id FROM users WHERE name = $1',
      },
      { forceIndexes: true },
    );
    expect(report.usesIndex).toBe(false);
  });

  it('declares the same delete cascades as the schema (the cache empties what they remove)', async () => {
    const rows: { parent: string; child: string }[] =
      ds.options.type === 'postgres'
        ? await ds.query(
            `SELECT p.relname AS parent, c.relname AS child FROM pg_constraint f
             JOIN pg_class c ON c.oid = f.conrelid JOIN pg_class p ON p.oid = f.confrelid
             WHERE f.contype = 'f' AND f.confdeltype = 'c'`,
          )
        : await ds.query(
            `SELECT f."table" AS parent, m.name AS child FROM sqlite_master m,
             pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND f.on_delete = 'CASCADE'`,
          );
    const schema: Record<string, string[]> = {};
    for (const { parent, child } of rows) {
      (schema[parent] ??= []).push(child);
    }
    const sorted = (map: Readonly<Record<string, readonly string[]>>) =>
      Object.fromEntries(
        Object.entries(map)
          .map(([parent, children]) => [parent, [...children].sort()] as const)
          .sort(([a], [b]) => (a < b ? -1 : 1)),
      );
    expect(sorted(schema)).toEqual(sorted(CASCADES));
  });
});
