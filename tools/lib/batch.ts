/** Helpers for set-based writes: chunking rows so each statement stays under the bind limit. */

/** Bind variables one statement may carry: SQLite's default maximum and PostgreSQL's protocol limit. */
export const MAX_BIND_VARIABLES = { sqlite: 32766, postgres: 65535 } as const;

/** Rows of `columns` values that fit in one statement, capped at `cap` to keep statements small. */
export function rowsPerStatement(
  kind: keyof typeof MAX_BIND_VARIABLES,
  columns: number,
  cap = 5000,
): number {
  if (columns < 1) {
    throw new RangeError('columns must be at least 1');
  }
  return Math.max(1, Math.min(cap, Math.floor(MAX_BIND_VARIABLES[kind] / columns)));
}

/** Splits items into consecutive chunks of at most size items. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (size < 1) {
    throw new RangeError('size must be at least 1');
  }
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    chunks.push(items.slice(i, i + size));
  }
  return chunks;
}

/** Runs one SQL statement with positional parameters (an EntityManager or QueryRunner fits). */
export interface SqlRunner {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

export interface BulkInsertOptions {
  /** On a key conflict: skip the row (`ignore`), or overwrite these columns (`update`). */
  onConflict?: { target: string[]; ignore: true } | { target: string[]; update: string[] };
  /** Largest rows per statement (default 5000); also bounded by the bind-variable limit. */
  maxRows?: number;
  /** Called after each statement with the rows it carried. */
  onChunk?: (rows: number) => void;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

function checkWidth(rows: readonly unknown[][], width: number, table: string): void {
  for (const row of rows) {
    if (row.length !== width) {
      throw new RangeError(`a row for ${table} has ${row.length} values, not ${width}`);
    }
  }
}

/**
 * Set-based insert or upsert, one statement per chunk: on SQLite a multi-row
 * `INSERT ... VALUES (...), (...)` sized for the bind-variable limit (booleans bound as 1/0);
 * on PostgreSQL `INSERT ... SELECT * FROM unnest($1::text[], ...)`, one array per column
 * (boolean columns as boolean[]; other columns must accept text). Values are always bound,
 * never inlined; table and column names must come from code, not input.
 */
export async function bulkInsert(
  runner: SqlRunner,
  kind: keyof typeof MAX_BIND_VARIABLES,
  table: string,
  columns: string[],
  rows: readonly unknown[][],
  options: BulkInsertOptions = {},
): Promise<void> {
  let conflict = '';
  if (options.onConflict) {
    const target = options.onConflict.target.map(quote).join(', ');
    conflict =
      'ignore' in options.onConflict
        ? ` ON CONFLICT (${target}) DO NOTHING`
        : ` ON CONFLICT (${target}) DO UPDATE SET ${options.onConflict.update
            .map((c) => `${quote(c)} = excluded.${quote(c)}`)
            .join(', ')}`;
  }
  const head = `INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) `;
  if (kind === 'postgres') {
    // One array parameter per column (unnest): the statement stays small however many rows.
    const types = columns.map((_, c) =>
      rows.some((row) => typeof row[c] === 'boolean') ? 'boolean[]' : 'text[]',
    );
    const sql = `${head}SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}`).join(', ')})${conflict}`;
    for (const slice of chunk(rows, options.maxRows ?? 5000)) {
      checkWidth(slice, columns.length, table);
      await runner.query(
        sql,
        columns.map((_, c) => slice.map((row) => row[c])),
      );
      options.onChunk?.(slice.length);
    }
    return;
  }
  const perStatement = rowsPerStatement(kind, columns.length, options.maxRows);
  for (const slice of chunk(rows, perStatement)) {
    checkWidth(slice, columns.length, table);
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (const row of slice) {
      for (const value of row) {
        params.push(typeof value === 'boolean' ? (value ? 1 : 0) : value);
      }
      tuples.push(`(${row.map(() => '?').join(', ')})`);
    }
    await runner.query(`${head}VALUES ${tuples.join(', ')}${conflict}`, params);
    options.onChunk?.(slice.length);
  }
}

/**
 * Runs `sql(list)` for each chunk of values, where list is the chunk's bound placeholders
 * (`?, ?` on SQLite, `$1, $2` on PostgreSQL) for an `IN (...)`, and returns all rows.
 */
export async function selectIn<T>(
  runner: SqlRunner,
  kind: keyof typeof MAX_BIND_VARIABLES,
  sql: (list: string) => string,
  values: readonly unknown[],
  maxPerStatement = 5000,
): Promise<T[]> {
  const rows: T[] = [];
  for (const slice of chunk(values, rowsPerStatement(kind, 1, maxPerStatement))) {
    const list = slice.map((_, i) => (kind === 'sqlite' ? '?' : `$${i + 1}`)).join(', ');
    rows.push(...((await runner.query(sql(list), [...slice])) as T[]));
  }
  return rows;
}
