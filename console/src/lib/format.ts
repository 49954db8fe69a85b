/** Display helpers: fixed locale and UTC so every operator reads the same figures. */

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatInt(value: number): string {
  return INTEGER.format(value);
}

/** US dollars: cents above one dollar, up to four significant decimals below it. */
export function formatUsd(value: number): string {
  if (!Number.isFinite(value)) {
    return '—';
  }
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  if (abs === 0) {
    return '$0.00';
  }
  if (abs >= 1) {
    return `${sign}$${abs.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  if (abs >= 0.01) {
    return `${sign}$${abs.toFixed(2)}`;
  }
  return `${sign}$${abs.toPrecision(2).replace(/0+$/, '')}`;
}

/** `2026-12-01 10:08 UTC` from an ISO timestamp; the text itself when it does not parse. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '—';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** `2026-12-01` (UTC) */
export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** A share of a budget as `42%` (no decimals; `—` without a budget). */
export function formatShare(spent: number, budget: number | null | undefined): string {
  if (budget === null || budget === undefined || budget <= 0) {
    return '—';
  }
  return `${Math.round((spent / budget) * 100)}%`;
}

/**
 * Ids typed or pasted for a bulk action: one per line, or separated by commas, semicolons
 * or spaces; blanks dropped, duplicates kept once, first occurrence order.
 */
export function parseIdList(text: string): string[] {
  const seen = new Set<string>();
  for (const part of text.split(/[\s,;]+/)) {
    const id = part.trim();
    if (id !== '') {
      seen.add(id);
    }
  }
  return [...seen];
}

/** `0.8, 1` -> [0.8, 1]; throws with a sentence when a value is not a fraction in (0, 1]. */
export function parseThresholds(text: string): number[] {
  const values = text
    .split(/[\s,;]+/)
    .filter((t) => t !== '')
    .map((t) => {
      const n = Number(t.endsWith('%') ? Number(t.slice(0, -1)) / 100 : t);
      if (!Number.isFinite(n) || n <= 0 || n > 1) {
        throw new Error(`"${t}" is not a fraction of the budget between 0 and 1 (or 1% to 100%).`);
      }
      return n;
    });
  return [...new Set(values)].sort((a, b) => a - b);
}

/** `acme.pl, Acme.com` -> ['acme.pl', 'acme.com']; throws with a sentence on a bad domain. */
export function parseDomains(text: string): string[] {
  const domains = text
    .split(/[\s,;]+/)
    .filter((t) => t !== '')
    .map((t) => t.toLowerCase().replace(/^@/, ''));
  for (const d of domains) {
    if (!/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(d)) {
      throw new Error(`"${d}" is not an e-mail domain such as acme.pl.`);
    }
  }
  return [...new Set(domains)];
}

/** An optional number field: '' -> null; throws with a sentence on a negative or non-number. */
export function parseOptionalNumber(text: string, label: string, integer = false): number | null {
  const trimmed = text.trim();
  if (trimmed === '') {
    return null;
  }
  const n = Number(trimmed);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`${label} must be ${integer ? 'a whole number' : 'a number'} of 0 or more.`);
  }
  return n;
}

/** RFC 4180 CSV of rows, columns in the given order. */
export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  const cell = (value: unknown): string => {
    const text =
      value === null || value === undefined
        ? ''
        : typeof value === 'object'
          ? JSON.stringify(value)
          : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))]
    .map((line) => `${line}\r\n`)
    .join('');
}
