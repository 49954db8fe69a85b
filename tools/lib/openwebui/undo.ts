import { chunk, MAX_BIND_VARIABLES, SqlRunner, bulkInsert, rowsPerStatement } from '../batch';

/**
 * What a run changed, as the rows' states before it: enough to put them back. Written (on
 * PostgreSQL) before the run's transaction commits, read by `--restore <file>`.
 */
export const UNDO_FORMAT = 'migrate-organizations-undo/1';

/** The tables a run writes, in the order restoring re-inserts them (parents first). */
export const UNDO_TABLES = {
  organizations: { key: ['id'], columns: ['id', 'name', 'updated_at'] },
  users: { key: ['id'], columns: ['id', 'name', 'email', 'role', 'created_at', 'updated_at'] },
  models: {
    key: ['id'],
    columns: ['id', 'name', 'base_model_id', 'is_active', 'created_at', 'updated_at'],
  },
  organization_members: {
    key: ['organization_id', 'user_id'],
    columns: ['organization_id', 'user_id', 'role', 'is_active', 'joined_at', 'updated_at'],
  },
  organization_models: {
    key: ['organization_id', 'model_id'],
    columns: ['organization_id', 'model_id', 'is_active', 'created_at', 'updated_at'],
  },
} as const;
export type UndoTable = keyof typeof UNDO_TABLES;
type Row = Record<string, unknown>;

export interface UndoFile {
  format: typeof UNDO_FORMAT;
  created_at: string;
  target: string;
  organizations: string[];
  /** Per table: keys of rows the run created (deleted on restore), rows it changed or removed as they were. */
  tables: Record<UndoTable, { created: string[][]; before: Row[] }>;
}

/** Collects, during a run, the keys it creates and the rows it changes or removes. */
export class UndoLog {
  readonly tables = Object.fromEntries(
    Object.keys(UNDO_TABLES).map((t) => [t, { created: [] as string[][], before: [] as Row[] }]),
  ) as UndoFile['tables'];

  created(table: UndoTable, key: string[]): void {
    this.tables[table].created.push(key);
  }

  /** The row as it was (raw column names; columns beyond the table's list are ignored). */
  before(table: UndoTable, row: Row): void {
    const kept: Row = {};
    for (const c of UNDO_TABLES[table].columns) {
      kept[c] = row[c];
    }
    this.tables[table].before.push(kept);
  }

  file(target: string, organizations: string[]): UndoFile {
    return {
      format: UNDO_FORMAT,
      created_at: new Date().toISOString(),
      target,
      organizations,
      tables: this.tables,
    };
  }
}

const quote = (name: string) => `"${name}"`;

/** Deletes rows by key, set-based: `key IN (...)`, or for a pair `a = ? AND b IN (...)`. */
export async function deleteByKeys(
  runner: SqlRunner,
  kind: keyof typeof MAX_BIND_VARIABLES,
  table: UndoTable,
  keys: readonly string[][],
): Promise<void> {
  const keyColumns = UNDO_TABLES[table].key;
  const p = (i: number) => (kind === 'sqlite' ? '?' : `$${i}`);
  if (keyColumns.length === 1) {
    for (const slice of chunk(keys, rowsPerStatement(kind, 1))) {
      await runner.query(
        `DELETE FROM ${quote(table)} WHERE ${quote(keyColumns[0])} IN (${slice.map((_, i) => p(i + 1)).join(', ')})`,
        slice.map((k) => k[0]),
      );
    }
    return;
  }
  const byFirst = new Map<string, string[]>();
  keys.forEach(([a, b]) => byFirst.set(a, [...(byFirst.get(a) ?? []), b]));
  for (const [a, bs] of byFirst) {
    for (const slice of chunk(bs, rowsPerStatement(kind, 1) - 1)) {
      await runner.query(
        `DELETE FROM ${quote(table)} WHERE ${quote(keyColumns[0])} = ${p(1)} AND ${quote(keyColumns[1])} IN (${slice
          .map((_, i) => p(i + 2))
          .join(', ')})`,
        [a, ...slice],
      );
    }
  }
}

/** Puts the undo file's rows back inside the caller's transaction: children out, parents back, children back. */
export async function applyUndo(
  runner: SqlRunner,
  kind: keyof typeof MAX_BIND_VARIABLES,
  undo: UndoFile,
): Promise<{ deleted: number; restored: number }> {
  const order = Object.keys(UNDO_TABLES) as UndoTable[];
  let deleted = 0;
  let restored = 0;
  for (const table of [...order].reverse()) {
    await deleteByKeys(runner, kind, table, undo.tables[table].created);
    deleted += undo.tables[table].created.length;
  }
  for (const table of order) {
    const { key, columns } = UNDO_TABLES[table];
    const rows = undo.tables[table].before;
    await bulkInsert(
      runner,
      kind,
      table,
      [...columns],
      rows.map((r) => columns.map((c) => r[c])),
      {
        onConflict: {
          target: [...key],
          update: columns.filter((c) => !(key as readonly string[]).includes(c)),
        },
      },
    );
    restored += rows.length;
  }
  return { deleted, restored };
}

/** Checks a parsed undo file's shape; returns the problem or null. */
export function undoFileProblem(value: unknown): string | null {
  const v = value as Partial<UndoFile> | null;
  if (!v || typeof v !== 'object' || v.format !== UNDO_FORMAT || !v.tables) {
    return `not an undo file of this tool (format ${UNDO_FORMAT})`;
  }
  for (const table of Object.keys(UNDO_TABLES) as UndoTable[]) {
    const t = v.tables[table];
    if (!t || !Array.isArray(t.created) || !Array.isArray(t.before)) {
      return `the undo file lacks its "${table}" section`;
    }
  }
  return null;
}
