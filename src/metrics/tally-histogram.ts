import { MetricValueWithName, register } from 'prom-client';

/** A metric as prom-client's registry reads it at scrape time (its typings say less). */
interface ScrapedMetric {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: MetricValueWithName<string>[];
}

/** One label set's observations: counts per bucket (not cumulative), their sum and count. */
interface Series {
  labels: Record<string, string>;
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram for the request path: observing is a map lookup by a key the
 * caller builds, a bucket search and three additions. prom-client's Histogram validates
 * and hashes the label object on every observation, which cost more than the access check
 * it timed (see BENCHMARKS.md). It is registered in prom-client's default registry, which
 * formats it at scrape time like any other histogram (`_bucket` with `le`, `_sum`, `_count`).
 * Label values are taken as they are: the caller passes only route templates, methods and
 * status classes, never client text.
 */
export class TallyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  private constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {}

  /** The histogram of that name in the default registry, registered on first use. */
  static registered(
    name: string,
    help: string,
    labelNames: readonly string[],
    bounds: readonly number[],
  ): TallyHistogram {
    const existing = register.getSingleMetric(name);
    if (existing instanceof TallyHistogram) {
      return existing;
    }
    const histogram = new TallyHistogram(
      name,
      help,
      labelNames,
      [...bounds].sort((a, b) => a - b),
    );
    register.registerMetric(histogram as never);
    return histogram;
  }

  /**
   * Records `value` for the label set `key` names; `values` (in labelNames' order) are read
   * only the first time that key is seen.
   */
  observe(key: string, values: readonly string[], value: number): void {
    let series = this.series.get(key);
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]));
      series = { labels, counts: new Float64Array(this.bounds.length), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) {
      i++;
    }
    if (i < bounds.length) {
      series.counts[i]++;
    }
    series.sum += value;
    series.count++;
  }

  /** What prom-client's registry formats: cumulative buckets, +Inf, sum and count per series. */
  get(): Promise<ScrapedMetric> {
    const values: MetricValueWithName<string>[] = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += series.counts[i];
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le, ...series.labels },
          value: cumulative,
        });
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { le: '+Inf', ...series.labels },
        value: series.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    }
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
