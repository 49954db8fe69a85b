import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';

/** sha256 of every table's rows (sorted, so the physical order does not matter), by table name. */
export type DbChecksum = Record<string, string>;

async function tableNames(ds: DataSource): Promise<string[]> {
  const rows: { name: string }[] =
    ds.options.type === 'postgres'
      ? await ds.query(
          `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`,
        )
      : await ds.query(
          `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
        );
  return rows.map((r) => r.name);
}

/** A value as text that tells types apart (1 vs '1', null vs 'null', Buffers by content). */
function canonical(value: unknown): string {
  if (value === null || value === undefined) {
    return 'N';
  }
  if (Buffer.isBuffer(value)) {
    return `B${value.toString('hex')}`;
  }
  if (value instanceof Date) {
    return `D${value.toISOString()}`;
  }
  return `${typeof value}:${typeof value === 'object' ? JSON.stringify(value) : String(value)}`;
}

/**
 * Checksums every table of the application's database through its own DataSource
 * (SQLite or PostgreSQL): the rows of each table, each row's columns in name order,
 * rows sorted, hashed. Equal checksums mean byte-for-byte equal contents.
 */
export async function dbChecksum(ds: DataSource): Promise<DbChecksum> {
  const result: DbChecksum = {};
  for (const table of await tableNames(ds)) {
    const rows: Record<string, unknown>[] = await ds.query(
      `SELECT * FROM "${table.replace(/"/g, '""')}"`,
    );
    const lines = rows
      .map((row) =>
        Object.keys(row)
          .sort()
          .map((column) => `${column}=${canonical(row[column])}`)
          .join('\u0001'),
      )
      .sort();
    const hash = createHash('sha256');
    for (const line of lines) {
      hash.update(line).update('\u0002');
    }
    result[table] = `${rows.length}:${hash.digest('hex')}`;
  }
  return result;
}

/** Tables whose checksum differs between two snapshots. */
export function changedTables(before: DbChecksum, after: DbChecksum): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort();
}
