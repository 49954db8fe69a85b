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
