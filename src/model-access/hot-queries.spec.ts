import { CACHED_QUERIES, CachedQuery, layersEmptiedBy } from './hot-queries';

/** The tables named after FROM or JOIN in a query's SQL. */
function tablesIn(query: CachedQuery): string[] {
  return [...query.sql(2).matchAll(/\b(?:FROM|JOIN)\s+(\w+)/gi)].map((m) => m[1]).sort();
}

const summary = (emptied: ReturnType<typeof layersEmptiedBy>) =>
  Object.fromEntries(
    [...emptied].map(([layer, keys]) => [layer, keys === 'all' ? 'all' : [...keys]]),
  );

describe('hot queries', () => {
  it.each(CACHED_QUERIES.map((q) => [q.name, q] as const))(
    '%s declares exactly the tables its SQL reads',
    (_, query) => {
      expect(Object.keys(query.reads).sort()).toEqual(tablesIn(query));
    },
  );

  it.each(
    CACHED_QUERIES.flatMap((q) =>
      Object.entries(q.reads)
        .filter(([, column]) => column !== null)
        .map(([table, column]) => [q.name, table, column!] as const),
    ),
  )('%s keys its layer by a column of %s that its SQL uses (%s)', (name, _table, column) => {
    const query = CACHED_QUERIES.find((q) => q.name === name)!;
    expect(query.sql(1)).toMatch(new RegExp(`\\b${column}\\b`));
  });
});

describe(layersEmptiedBy.name, () => {
  it('narrows to the keys a write names by the column its layer is keyed by', () => {
    expect(
      summary(
        layersEmptiedBy([
          { table: 'organization_members', rows: { column: 'user_id', keys: ['u1', 'u2'] } },
          { table: 'organization_models', rows: { column: 'organization_id', keys: ['o1'] } },
        ]),
      ),
    ).toEqual({ users: ['u1', 'u2'], grants: ['o1'] });
  });

  it('empties the whole layer for rows named by another column or not named', () => {
    expect(
      summary(
        layersEmptiedBy([
          { table: 'organization_members', rows: { column: 'organization_id', keys: ['o1'] } },
        ]),
      ),
    ).toEqual({ users: 'all' });
    expect(summary(layersEmptiedBy([{ table: 'users' }]))).toEqual({ users: 'all' });
  });

  it('follows delete cascades and layers built from an emptied one', () => {
    expect(summary(layersEmptiedBy([{ table: 'organizations' }]))).toEqual({
      users: 'all',
      grants: 'all',
    });
    expect(summary(layersEmptiedBy([{ table: 'models' }]))).toEqual({
      catalog: 'all',
      grants: 'all',
    });
  });

  it('empties nothing for tables no cached query reads, everything for `*`', () => {
    expect(summary(layersEmptiedBy([{ table: 'audit_events' }]))).toEqual({});
    expect(summary(layersEmptiedBy([{ table: '*' }]))).toEqual({
      users: 'all',
      grants: 'all',
      catalog: 'all',
    });
  });
});
