import { bulkInsert, chunk, MAX_BIND_VARIABLES, rowsPerStatement, selectIn } from './batch';

describe(rowsPerStatement.name, () => {
  it('keeps every statement under the bind-variable limit of each database', () => {
    for (const kind of ['sqlite', 'postgres'] as const) {
      for (const columns of [1, 5, 6, 7, 13]) {
        const rows = rowsPerStatement(kind, columns, Number.MAX_SAFE_INTEGER);
        expect(rows * columns).toBeLessThanOrEqual(MAX_BIND_VARIABLES[kind]);
        expect((rows + 1) * columns).toBeGreaterThan(MAX_BIND_VARIABLES[kind]);
      }
    }
  });

  it('caps the rows per statement', () => {
    expect(rowsPerStatement('postgres', 1, 5000)).toBe(5000);
    expect(rowsPerStatement('sqlite', 7)).toBe(4680);
  });
});

describe(chunk.name, () => {
  it('splits into consecutive pieces, the last one shorter', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 3)).toEqual([]);
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });
});

describe(bulkInsert.name, () => {
  const capture = () => {
    const calls: { sql: string; params: unknown[] }[] = [];
    return {
      calls,
      runner: {
        query: async (sql: string, params: unknown[] = []) => void calls.push({ sql, params }),
      },
    };
  };

  it('binds every value on SQLite, booleans as 1/0, in statements under the variable limit', async () => {
    const { calls, runner } = capture();
    const rows = Array.from({ length: 10_001 }, (_, i) => [`id-${i}`, "it's", i % 2 === 0]);
    const chunks: number[] = [];
    await bulkInsert(runner, 'sqlite', 'models', ['id', 'name', 'is_active'], rows, {
      onConflict: { target: ['id'], update: ['name', 'is_active'] },
      onChunk: (n) => chunks.push(n),
    });
    expect(chunks).toEqual([5000, 5000, 1]);
    expect(calls[2]).toEqual({
      sql: 'INSERT INTO "models" ("id", "name", "is_active") VALUES (?, ?, ?) ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "is_active" = excluded."is_active"',
      params: ['id-10000', "it's", 1],
    });
    expect(calls.every((c) => c.params.length <= MAX_BIND_VARIABLES.sqlite)).toBe(true);
  });

  it('sends one array per column through unnest on PostgreSQL', async () => {
    const { calls, runner } = capture();
    await bulkInsert(
      runner,
      'postgres',
      'grants',
      ['org', 'model', 'on'],
      [
        ['a', 'm1', true],
        ['a', 'm2', false],
      ],
      { onConflict: { target: ['org', 'model'], ignore: true } },
    );
    expect(calls).toEqual([
      {
        sql: 'INSERT INTO "grants" ("org", "model", "on") SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[]) ON CONFLICT ("org", "model") DO NOTHING',
        params: [
          ['a', 'a'],
          ['m1', 'm2'],
          [true, false],
        ],
      },
    ]);
  });

  it('refuses a row of the wrong width before sending anything', async () => {
    const { calls, runner } = capture();
    await expect(bulkInsert(runner, 'sqlite', 't', ['a', 'b'], [['x']])).rejects.toThrow(
      RangeError,
    );
    expect(calls).toEqual([]);
  });
});

describe(selectIn.name, () => {
  it('numbers placeholders per statement and concatenates the rows', async () => {
    const sqls: string[] = [];
    const runner = {
      query: async (sql: string, params: unknown[] = []) => {
        sqls.push(sql);
        return params.map((p) => ({ p }));
      },
    };
    const rows = await selectIn(runner, 'postgres', (l) => `SELECT ${l}`, [1, 2, 3], 2);
    expect(rows).toEqual([{ p: 1 }, { p: 2 }, { p: 3 }]);
    expect(sqls).toEqual(['SELECT $1, $2', 'SELECT $1']);
  });
});
