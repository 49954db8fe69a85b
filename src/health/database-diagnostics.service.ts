import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { performance } from 'node:perf_hooks';
import { EntityManager } from 'typeorm';
import { DatabaseService } from '../database/database.service';

/** Every table the migrations create, in the order they are reported. */
export const TABLES = [
  'users',
  'models',
  'organizations',
  'organization_members',
  'organization_models',
  'audit_events',
  'usage_events',
] as const;

/** Secondary indexes the hot queries rely on (created by the migrations). */
export const EXPECTED_INDEXES: readonly { table: string; name: string }[] = [
  { table: 'users', name: 'idx_users_email' },
  { table: 'models', name: 'idx_models_base_model_id' },
  { table: 'organizations', name: 'uq_organizations_external_user' },
  { table: 'organizations', name: 'idx_organizations_auto_grant' },
  { table: 'organization_members', name: 'idx_members_user_id' },
  { table: 'organization_models', name: 'idx_grants_model_id' },
  { table: 'audit_events', name: 'idx_audit_actor' },
  { table: 'audit_events', name: 'idx_audit_target' },
  { table: 'audit_events', name: 'idx_audit_created_at' },
  { table: 'usage_events', name: 'idx_usage_organization_created' },
  { table: 'usage_events', name: 'idx_usage_user_created' },
  { table: 'usage_events', name: 'idx_usage_created' },
];

/** Primary keys (column lists, in key order) the lookups by id rely on. */
export const EXPECTED_PRIMARY_KEYS: Readonly<Record<string, readonly string[]>> = {
  users: ['id'],
  models: ['id'],
  organizations: ['id'],
  organization_members: ['organization_id', 'user_id'],
  organization_models: ['organization_id', 'model_id'],
  audit_events: ['id'],
  usage_events: ['id'],
};

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * The database checks of /health/detailed: migrations applied, indexes present,
 * row counts and the timing of the queries every access decision runs. Each is a
 * handful of catalog or COUNT queries, awaited through DatabaseService.read.
 */
@Injectable()
export class DatabaseDiagnosticsService {
  constructor(
    private readonly db: DatabaseService,
    private readonly indicator: HealthIndicatorService,
  ) {}

  /** Up when every migration the code knows is recorded, and nothing unknown is. */
  async migrations(): Promise<HealthIndicatorResult<'migrations'>> {
    const check = this.indicator.check('migrations');
    const ds = this.db.dataSource;
    const table = ds.options.migrationsTableName ?? 'migrations';
    const rows = await this.db.read((m) =>
      m
        .createQueryBuilder()
        .select('t.name', 'name')
        .from(table, 't')
        .getRawMany<{ name: string }>(),
    );
    const applied = rows.map((r) => r.name);
    const known = ds.migrations.map((m) => m.name ?? m.constructor.name);
    const pending = known.filter((name) => !applied.includes(name));
    const unknown = applied.filter((name) => !known.includes(name));
    const data = { applied: applied.length, known: known.length, pending, unknown };
    return pending.length === 0 && unknown.length === 0 ? check.up(data) : check.down(data);
  }

  /** Up when every expected index and primary key exists. */
  async indexes(): Promise<HealthIndicatorResult<'indexes'>> {
    const check = this.indicator.check('indexes');
    const { names, primaryKeys } = await this.db.read((m) =>
      this.db.kind === 'postgres' ? this.postgresIndexes(m) : this.sqliteIndexes(m),
    );
    const missing = EXPECTED_INDEXES.filter((i) => !names.has(i.name)).map((i) => i.name);
    for (const [table, columns] of Object.entries(EXPECTED_PRIMARY_KEYS)) {
      if ((primaryKeys.get(table) ?? []).join(',') !== columns.join(',')) {
        missing.push(`pk_${table}(${columns.join(',')})`);
      }
    }
    const data = {
      expected: EXPECTED_INDEXES.length + Object.keys(EXPECTED_PRIMARY_KEYS).length,
      missing,
    };
    return missing.length === 0 ? check.up(data) : check.down(data);
  }

  /** Row count of every table (informational: always up when the queries answer). */
  async rowCounts(): Promise<HealthIndicatorResult<'rows'>> {
    const counts: Record<string, number> = {};
    await this.db.read(async (m) => {
      for (const table of TABLES) {
        const row = await m
          .createQueryBuilder()
          .select('COUNT(*)', 'n')
          .from(table, 't')
          .getRawOne<{ n: string | number }>();
        counts[table] = Number(row?.n ?? 0);
      }
    });
    return this.indicator.check('rows').up(counts);
  }

  /**
   * Runs the three lookups behind every access decision (user by id, the user's
   * memberships with their organizations, the organizations' grants) for a real
   * member when there is one, and reports each duration in milliseconds.
   */
  async hotQueries(): Promise<HealthIndicatorResult<'hot_queries'>> {
    const timings = await this.db.read(async (m) => {
      const sample = await m
        .createQueryBuilder()
        .select(['t.user_id AS user_id', 't.organization_id AS organization_id'])
        .from('organization_members', 't')
        .limit(1)
        .getRawOne<{ user_id: string; organization_id: string }>();
      const userId = sample?.user_id ?? '~health-probe~';
      const orgId = sample?.organization_id ?? '~health-probe~';
      return {
        sample: sample ? 'member' : 'none (no memberships yet)',
        user_lookup_ms: await timed(() =>
          m
            .createQueryBuilder()
            .select(['u.id', 'u.role'])
            .from('users', 'u')
            .where('u.id = :userId', { userId })
            .getRawOne(),
        ),
        membership_lookup_ms: await timed(() =>
          m
            .createQueryBuilder()
            .select(['t.organization_id', 't.role', 't.is_active', 'o.is_active'])
            .from('organization_members', 't')
            .innerJoin('organizations', 'o', 'o.id = t.organization_id')
            .where('t.user_id = :userId', { userId })
            .getRawMany(),
        ),
        grant_lookup_ms: await timed(() =>
          m
            .createQueryBuilder()
            .select(['g.model_id', 'g.is_active'])
            .from('organization_models', 'g')
            .where('g.organization_id IN (:...orgIds)', { orgIds: [orgId] })
            .getRawMany(),
        ),
      };
    });
    return this.indicator.check('hot_queries').up(timings);
  }

  private async sqliteIndexes(
    m: EntityManager,
  ): Promise<{ names: Set<string>; primaryKeys: Map<string, string[]> }> {
    const rows: { name: string }[] = await m.query(
      "SELECT name FROM sqlite_master WHERE type = 'index'",
    );
    const primaryKeys = new Map<string, string[]>();
    for (const table of TABLES) {
      const columns: { name: string; pk: number }[] = await m.query(
        'SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk',
        [table],
      );
      primaryKeys.set(
        table,
        columns.map((c) => c.name),
      );
    }
    return { names: new Set(rows.map((r) => r.name)), primaryKeys };
  }

  private async postgresIndexes(
    m: EntityManager,
  ): Promise<{ names: Set<string>; primaryKeys: Map<string, string[]> }> {
    const rows: { indexname: string }[] = await m.query(
      'SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()',
    );
    const keyColumns: { table_name: string; column_name: string }[] = await m.query(
      `SELECT tc.table_name, kcu.column_name
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu
           ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
        ORDER BY tc.table_name, kcu.ordinal_position`,
    );
    const primaryKeys = new Map<string, string[]>();
    for (const row of keyColumns) {
      primaryKeys.set(row.table_name, [
        ...(primaryKeys.get(row.table_name) ?? []),
        row.column_name,
      ]);
    }
    return { names: new Set(rows.map((r) => r.indexname)), primaryKeys };
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return round(performance.now() - started);
}
