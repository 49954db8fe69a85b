import { chunk, MAX_BIND_VARIABLES, rowsPerStatement } from './batch';

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
