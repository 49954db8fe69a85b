import { MetricValueWithName, register } from 'prom-client';

/** A tally as prom-client's registry reads it at scrape time (its typings say less). */
export interface ScrapedTally<K extends string> {
  name: string;
  help: string;
  type: K;
  aggregator: 'sum';
  values: MetricValueWithName<string>[];
}

/**
 * What TallyCounter and TallyHistogram share: their series, one per label set, found by a
 * key the caller builds (a map lookup per observation, no label object validated or hashed),
 * and registration in prom-client's default registry, which formats them at scrape time like
 * its own metrics. Label values are taken as they are: callers pass route templates, methods,
 * status classes, fixed words and ids the service stores, never client text.
 */
export abstract class Tally<S, K extends string> {
  readonly aggregator = 'sum';
  abstract readonly type: K;
  protected readonly series = new Map<string, S & { labels: Record<string, string> }>();

  protected constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
  ) {}

  /**
   * The metric of that name in the default registry, made by `make` and registered on first
   * use (tests boot several applications in one process).
   */
  protected static registeredOnce<T extends Tally<unknown, string>>(
    name: string,
    isKind: (metric: unknown) => metric is T,
    make: () => T,
  ): T {
    const existing = register.getSingleMetric(name);
    if (isKind(existing)) {
      return existing;
    }
    const metric = make();
    register.registerMetric(metric as never);
    return metric;
  }

  /**
   * The series of the label set `key` names, made by `empty` the first time that key is seen;
   * `values` (in labelNames' order) are read only then.
   */
  protected seriesOf(
    key: string,
    values: readonly string[],
    empty: () => S,
  ): S & { labels: Record<string, string> } {
    let series = this.series.get(key);
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]));
      series = { ...empty(), labels };
      this.series.set(key, series);
    }
    return series;
  }

  /** What prom-client's registry formats, given the metric's values. */
  protected scraped(values: MetricValueWithName<string>[]): Promise<ScrapedTally<K>> {
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
