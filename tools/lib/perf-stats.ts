/** Latency samples and the figures the performance tools report. */
export class LatencySamples {
  private values = new Float64Array(1 << 16);
  private count = 0;

  add(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = ms;
  }

  get size(): number {
    return this.count;
  }

  /** Percentiles (nearest rank) of everything added so far, in milliseconds. */
  summary(): LatencySummary {
    if (this.count === 0) {
      return { p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
    }
    const sorted = this.values.slice(0, this.count).sort();
    let total = 0;
    for (const v of sorted) {
      total += v;
    }
    return {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1],
      mean: total / sorted.length,
    };
  }
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) {
    return 0;
  }
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** A fixed-width text table (first column left-aligned, the others right-aligned). */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The same table as GitHub Markdown. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [
    line(header),
    line(header.map((_, i) => (i === 0 ? '---' : '---:'))),
    ...rows.map(line),
  ].join('\n');
}

export const ms = (value: number): string => value.toFixed(2);
export const pct = (value: number): string => `${(value * 100).toFixed(0)}%`;

/**
 * Little's law on a closed-loop generator's own figures: it never has more than
 * `connections` requests in flight, so throughput times mean latency cannot exceed that.
 * When it does, its latency figures are not elapsed times (wrk's own figures did, before the
 * bench took out the samples wrk adds for coordinated omission: perf-wrk-latency). Returns
 * the in-flight count the figures imply when they break the law by more than 10%, else null.
 */
export function impossibleInFlight(
  rps: number,
  meanLatencyMs: number,
  connections: number,
): number | null {
  const inFlight = (rps * meanLatencyMs) / 1000;
  return inFlight > connections * 1.1 ? inFlight : null;
}
