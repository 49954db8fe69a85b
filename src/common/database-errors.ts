/** The driver's error code (SQLite `SQLITE_*`, PostgreSQL SQLSTATE), wrapped or not. */
export function databaseErrorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
}

export type DatabaseErrorKind = 'unique' | 'foreign_key' | 'busy' | 'retryable' | null;

/**
 * The one classifier of driver errors (by code, never by message text):
 * - `unique` / `foreign_key`: a constraint refused the statement;
 * - `busy`: another writer held a lock too long (SQLite busy/locked, PostgreSQL lock_not_available);
 * - `retryable`: PostgreSQL serialization failure or deadlock, worth running the transaction again.
 */
export function databaseErrorKind(error: unknown): DatabaseErrorKind {
  const code = databaseErrorCode(error) ?? '';
  if (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  ) {
    return 'unique';
  }
  if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return 'foreign_key';
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === '55P03') {
    return 'busy';
  }
  if (code === '40001' || code === '40P01') {
    return 'retryable';
  }
  return null;
}

/** True when the database refused because another writer held a lock too long. */
export function isBusyError(error: unknown): boolean {
  return databaseErrorKind(error) === 'busy';
}
