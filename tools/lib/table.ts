/** Plain-text tables for tool output: a header row, a rule, right-aligned numbers. */

export type Cell = string | number | null | undefined;

/** Display width of a string, counting East Asian wide characters as two columns. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code >= 0x300 && code <= 0x36f) {
      continue; // combining marks take no column
    }
    width +=
      (code >= 0x1100 && code <= 0x115f) ||
      (code >= 0x2e80 && code <= 0xa4cf) ||
      (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0xfe30 && code <= 0xfe4f) ||
      (code >= 0xff00 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6) ||
      (code >= 0x1f300 && code <= 0x1faff) ||
      (code >= 0x20000 && code <= 0x3fffd)
        ? 2
        : 1;
  }
  return width;
}

function pad(text: string, width: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return right ? fill + text : text + fill;
}

/**
 * Formats rows under headers. Numeric cells are right-aligned (with thousands
 * separators), text is left-aligned, empty cells print as `-`.
 */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) =>
    headers.map((_, i) => {
      const cell = row[i];
      if (cell === null || cell === undefined || cell === '') {
        return { value: '-', numeric: true };
      }
      if (typeof cell === 'number') {
        return { value: cell.toLocaleString('en-US'), numeric: true };
      }
      return { value: cell, numeric: false };
    }),
  );
  const numericColumn = headers.map((_, i) => i > 0 && text.every((row) => row[i].numeric));
  const widths = headers.map((h, i) =>
    Math.max(displayWidth(h), ...text.map((row) => displayWidth(row[i].value))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => pad(c, widths[i], numericColumn[i]))
      .join('  ')
      .trimEnd();
  return [
    line(headers),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...text.map((row) => line(row.map((c) => c.value))),
  ].join('\n');
}
