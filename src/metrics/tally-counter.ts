import { ScrapedTally, Tally } from './tally';

/** One label set's total. */
interface Series {
  value: number;
}

/**
 * A Prometheus counter for the request path, the counterpart of TallyHistogram: counting is
 * a map lookup by a key the caller builds and one addition. prom-client's Counter validates
 * the label object and hashes it on every increment (a few µs on the access check, which
 * counts every decision, and on every gateway call, which counts three). See Tally for what
 * it shares with TallyHistogram.
 */
export class TallyCounter extends Tally<Series, 'counter'> {
  readonly type = 'counter';

  /** The counter of that name in the default registry, registered on first use. */
  static registered(name: string, help: string, labelNames: readonly string[]): TallyCounter {
    return Tally.registeredOnce(
      name,
      (m): m is TallyCounter => m instanceof TallyCounter,
      () => new TallyCounter(name, help, labelNames),
    );
  }

  /**
   * Adds `amount` (default 1, never negative) to the label set `key` names; `values` (in
   * labelNames' order) are read only the first time that key is seen.
   */
  inc(key: string, values: readonly string[], amount = 1): void {
    const series = this.seriesOf(key, values, () => ({ value: 0 }));
    if (amount > 0) {
      series.value += amount;
    }
  }

  /** What prom-client's registry formats: one value per label set. */
  get(): Promise<ScrapedTally<'counter'>> {
    return this.scraped(
      [...this.series.values()].map((series) => ({ labels: series.labels, value: series.value })),
    );
  }
}
