/**
 * The queries on the hot path, in one place: the access cache runs them, `npm run monitor`
 * times them and reads their plans, and test/perf-index-plans checks that each can use
 * its index on SQLite and PostgreSQL. Written with `$1`-style placeholders; `hotSql`
 * turns them into `?` for SQLite.
 */
export interface HotQuery {
  name: string;
  description: string;
  /** The table whose index should serve the lookup, and its alias in the SQL if any. */
  table: string;
  alias?: string;
  /** Indexes that may serve it (primary keys are matched by kind, see `usesIndex`). */
  indexes: string[];
  /** SQL with $1..$n placeholders; `n` is the size of an IN list. */
  sql(n?: number): string;
}

export const USER_BY_ID: HotQuery = {
  name: 'user_by_id',
  description: 'one user by id (authentication, every cold access lookup)',
  table: 'users',
  indexes: ['primary key'],
  sql: () => 'SELECT id, name, email, role FROM users WHERE id = $1',
};

export const MEMBERSHIPS_OF_USER: HotQuery = {
  name: 'memberships_by_user_id',
  description: "a user's memberships with their organizations",
  table: 'organization_members',
  alias: 'm',
  indexes: ['idx_members_user_id'],
  sql: () =>
    'SELECT m.organization_id, m.role, m.is_active, o.name AS organization_name, ' +
    'o.is_active AS organization_active, o.external_user, ' +
    'o.budget_usd, o.budget_period, o.alert_thresholds, o.allow_unpriced_models, ' +
    'o.rpm_limit, o.tpm_limit, m.budget_usd AS member_budget_usd, ' +
    'm.rpm_limit AS member_rpm_limit, m.tpm_limit AS member_tpm_limit ' +
    'FROM organization_members m INNER JOIN organizations o ON o.id = m.organization_id ' +
    'WHERE m.user_id = $1',
};

export const GRANTS_OF_ORGANIZATIONS: HotQuery = {
  name: 'grants_by_organization_id_in',
  description: "the grants of a user's organizations",
  table: 'organization_models',
  indexes: ['primary key'],
  sql: (n = 1) =>
    'SELECT organization_id, model_id, is_active FROM organization_models ' +
    `WHERE organization_id IN (${Array.from({ length: Math.max(1, n) }, (_, i) => `$${i + 1}`).join(', ')})`,
};

export const GRANTS_OF_MODEL: HotQuery = {
  name: 'grants_by_model_id',
  description: 'the organizations granting one model (grant pages, model deletion)',
  table: 'organization_models',
  indexes: ['idx_grants_model_id'],
  sql: () => 'SELECT organization_id, is_active FROM organization_models WHERE model_id = $1',
};

export const MEMBERS_OF_ORGANIZATION: HotQuery = {
  name: 'members_by_organization_id',
  description: 'the members of one organization',
  table: 'organization_members',
  indexes: ['primary key'],
  sql: () => 'SELECT user_id, role, is_active FROM organization_members WHERE organization_id = $1',
};

/** The whole catalog, read once per catalog change (not per request; a full scan is right). */
export const CATALOG_SQL = 'SELECT id, name, base_model_id, is_active, created_at FROM models';

/** Every indexed hot lookup, in the order the monitor reports them. */
export const HOT_QUERIES: readonly HotQuery[] = [
  USER_BY_ID,
  MEMBERSHIPS_OF_USER,
  GRANTS_OF_ORGANIZATIONS,
  GRANTS_OF_MODEL,
  MEMBERS_OF_ORGANIZATION,
];

/** The SQL of a hot query for one database kind. */
export function hotSql(query: HotQuery, kind: 'sqlite' | 'postgres', n?: number): string {
  const sql = query.sql(n);
  return kind === 'postgres' ? sql : sql.replace(/\$\d+/g, '?');
}

/** Reads a boolean column the way both drivers return it (SQLite 0/1, PostgreSQL true/false). */
export function toBool(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}
