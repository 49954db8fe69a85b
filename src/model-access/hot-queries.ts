/**
 * The queries that fill the access cache, in one place, each declaring what it reads and
 * which cache layer it fills: the access cache derives from these declarations which
 * layers a write empties (see `layersEmptiedBy`), `npm run monitor` times the indexed ones
 * and reads their plans, and test/perf-index-plans checks that each can use its index on
 * SQLite and PostgreSQL. Written with `$1`-style placeholders; `hotSql` turns them into
 * `?` for SQLite.
 *
 * To read a new table or column on the hot path: change the SQL here and its `reads`
 * (hot-queries.spec.ts fails when the two disagree); nothing else in the cache changes.
 */

/**
 * The cache layers: each user's rows (the user and their memberships, with their
 * organizations), each organization's grants, and the catalog of models.
 */
export type CacheLayer = 'users' | 'grants' | 'catalog';

export interface CachedQuery {
  name: string;
  /** The layer whose entries this query's rows become. */
  fills: CacheLayer;
  /**
   * Every table the SQL reads, each with the column that holds the layer's key (the user
   * id, the organization id) when a write to that table can name the entries it changes,
   * or null when a write to it may change any entry.
   */
  reads: Readonly<Record<string, string | null>>;
  /** SQL with $1..$n placeholders; `n` is the size of an IN list. */
  sql(n?: number): string;
}

/** A cached query served by an index (the monitor and the plan test read these). */
export interface HotQuery extends CachedQuery {
  description: string;
  /** The table whose index should serve the lookup, and its alias in the SQL if any. */
  table: string;
  alias?: string;
  /** Indexes that may serve it (primary keys are matched by kind, see `usesIndex`). */
  indexes: string[];
}

export const USER_BY_ID: HotQuery = {
  name: 'user_by_id',
  description: 'one user by id (authentication, every cold access lookup)',
  fills: 'users',
  reads: { users: 'id' },
  table: 'users',
  indexes: ['primary key'],
  sql: () => 'SELECT id, name, email, role FROM users WHERE id = $1',
};

export const MEMBERSHIPS_OF_USER: HotQuery = {
  name: 'memberships_by_user_id',
  description: "a user's memberships with their organizations",
  fills: 'users',
  reads: { organization_members: 'user_id', organizations: null },
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
  fills: 'grants',
  reads: { organization_models: 'organization_id' },
  table: 'organization_models',
  indexes: ['primary key'],
  sql: (n = 1) =>
    'SELECT organization_id, model_id, is_active FROM organization_models ' +
    `WHERE organization_id IN (${Array.from({ length: Math.max(1, n) }, (_, i) => `$${i + 1}`).join(', ')})`,
};

/** The whole catalog, read once per catalog change (not per request; a full scan is right). */
export const CATALOG: CachedQuery = {
  name: 'catalog',
  fills: 'catalog',
  reads: { models: null },
  sql: () =>
    'SELECT id, name, base_model_id, is_active, created_at, ' +
    'prompt_price_usd, completion_price_usd, context_length, max_completion_tokens FROM models',
};

/** Every query that fills the cache. */
export const CACHED_QUERIES: readonly CachedQuery[] = [
  USER_BY_ID,
  MEMBERSHIPS_OF_USER,
  GRANTS_OF_ORGANIZATIONS,
  CATALOG,
];

/** Every indexed hot lookup, in the order the monitor reports them. */
export const HOT_QUERIES: readonly HotQuery[] = [
  USER_BY_ID,
  MEMBERSHIPS_OF_USER,
  GRANTS_OF_ORGANIZATIONS,
];

/**
 * Layers built from other layers: an organization's grants resolve their patterns against
 * the catalog, so a new catalog empties them too.
 */
export const BUILT_FROM: Readonly<Record<CacheLayer, readonly CacheLayer[]>> = {
  users: [],
  grants: ['catalog'],
  catalog: [],
};

/**
 * Deletes the database cascades (ON DELETE CASCADE in the migrations): a statement on the
 * parent also changes these tables, although no statement names them.
 * test/perf-index-plans.e2e-spec.ts checks this against the schema on both databases.
 */
export const CASCADES: Readonly<Record<string, readonly string[]>> = {
  users: ['organization_members'],
  // budget_spend and budget_alerts cascade too, but no hot query reads them
  organizations: ['budget_alerts', 'budget_spend', 'organization_members', 'organization_models'],
};

/** What a write to one table empties in one layer: some keys, or the whole layer. */
export type Emptied = ReadonlyMap<CacheLayer, ReadonlySet<string> | 'all'>;

const ALL_LAYERS: readonly CacheLayer[] = ['users', 'grants', 'catalog'];

/**
 * The cache entries a write makes stale, derived from the declarations above: for each
 * table written (and each table its deletes cascade to), every layer a query reading it
 * fills, narrowed to the written keys when the write named its rows by the column that
 * query keys the layer by; then every layer built from an emptied one, whole. The table
 * `*` (a statement nobody could read) empties everything.
 */
export function layersEmptiedBy(
  tables: readonly { table: string; rows?: { column: string; keys: readonly string[] } }[],
): Emptied {
  const out = new Map<CacheLayer, Set<string> | 'all'>();
  const empty = (layer: CacheLayer, keys: readonly string[] | 'all') => {
    const current = out.get(layer);
    if (current === 'all') {
      return;
    }
    if (keys === 'all') {
      out.set(layer, 'all');
      return;
    }
    const set = current ?? new Set<string>();
    keys.forEach((key) => set.add(key));
    out.set(layer, set);
  };
  for (const change of tables) {
    if (change.table === '*') {
      ALL_LAYERS.forEach((layer) => empty(layer, 'all'));
      break;
    }
    for (const query of CACHED_QUERIES) {
      if (change.table in query.reads) {
        const column = query.reads[change.table];
        const named = column !== null && change.rows?.column === column;
        empty(query.fills, named ? change.rows!.keys : 'all');
      }
      for (const child of CASCADES[change.table] ?? []) {
        if (child in query.reads) {
          // Which child rows a cascade removed is not known here: the whole layer.
          empty(query.fills, 'all');
        }
      }
    }
  }
  for (const layer of ALL_LAYERS) {
    if (BUILT_FROM[layer].some((source) => out.get(source) === 'all')) {
      empty(layer, 'all');
    }
  }
  return out;
}

/** The SQL of a cached query for one database kind. */
export function hotSql(query: CachedQuery, kind: 'sqlite' | 'postgres', n?: number): string {
  const sql = query.sql(n);
  return kind === 'postgres' ? sql : sql.replace(/\$\d+/g, '?');
}

/** Reads a boolean column the way both drivers return it (SQLite 0/1, PostgreSQL true/false). */
export function toBool(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}
