import { MetricValueWithName, register } from 'prom-client';

/** One label set's total. */
interface Series {
  labels: Record<string, string>;
  value: number;
}

/**
 * A Prometheus counter for the request path, the counterpart of TallyHistogram: counting is
 * a map lookup by a key the caller builds and one addition. prom-client's Counter validates
 * the label object and hashes it on every increment (a few µs on the access check, which
 * counts every decision, and on every gateway call, which counts three). Registered in
 * prom-client's default registry, which formats it at scrape time like any other counter.
 * Label values are taken as they are: callers pass fixed words and ids the service stores,
 * never client text.
 */
export class TallyCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  private constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
  ) {}

  /** The counter of that name in the default registry, registered on first use. */
  static registered(name: string, help: string, labelNames: readonly string[]): TallyCounter {
    const existing = register.getSingleMetric(name);
    if (existing instanceof TallyCounter) {
      return existing;
    }
    const counter = new TallyCounter(name, help, labelNames);
    register.registerMetric(counter as never);
    return counter;
  }

  /**
   * Adds `amount` (default 1, never negative) to the label set `key` names; `values` (in
   * labelNames' order) are read only the first time that key is seen.
   */
  inc(key: string, values: readonly string[], amount = 1): void {
    let series = this.series.get(key);
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]));
      series = { labels, value: 0 };
      this.series.set(key, series);
    }
    if (amount > 0) {
      series.value += amount;
    }
  }

  /** What prom-client's registry formats: one value per label set. */
  get(): Promise<{
    name: string;
    help: string;
    type: 'counter';
    aggregator: 'sum';
    values: MetricValueWithName<string>[];
  }> {
    const values = [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value }));
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  reset(): void {
    this.series.clear();
  }
}
