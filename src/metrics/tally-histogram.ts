import { MetricValueWithName } from 'prom-client';
import { ScrapedTally, Tally } from './tally';

/** One label set's observations: counts per bucket (not cumulative), their sum and count. */
interface Series {
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram for the request path: observing is a map lookup by a key the
 * caller builds, a bucket search and three additions. prom-client's Histogram validates
 * and hashes the label object on every observation, which cost more than the access check
 * it timed (see BENCHMARKS.md). Scraped like any other histogram (`_bucket` with `le`,
 * `_sum`, `_count`); see Tally for what it shares with TallyCounter.
 */
export class TallyHistogram extends Tally<Series, 'histogram'> {
  readonly type = 'histogram';

  private constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames);
  }

  /** The histogram of that name in the default registry, registered on first use. */
  static registered(
    name: string,
    help: string,
    labelNames: readonly string[],
    bounds: readonly number[],
  ): TallyHistogram {
    return Tally.registeredOnce(
      name,
      (m): m is TallyHistogram => m instanceof TallyHistogram,
      () =>
        new TallyHistogram(
          name,
          help,
          labelNames,
          [...bounds].sort((a, b) => a - b),
        ),
    );
  }

  /**
   * Records `value` for the label set `key` names; `values` (in labelNames' order) are read
   * only the first time that key is seen.
   */
  observe(key: string, values: readonly string[], value: number): void {
    const series = this.seriesOf(key, values, () => ({
      counts: new Float64Array(this.bounds.length),
      sum: 0,
      count: 0,
    }));
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
  get(): Promise<ScrapedTally<'histogram'>> {
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
    return this.scraped(values);
  }
}
