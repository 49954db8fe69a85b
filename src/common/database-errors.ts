/** Classifies driver errors without exposing their text. */
export function databaseErrorKind(error: unknown): 'unique' | 'foreign_key' | 'busy' | null {
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = String(e?.code ?? e?.driverError?.code ?? '');
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
  return null;
}
