import { combineRuns, Measured, median, medianRatios, ratiosOf } from './perf-rounds';

function run(requests: number, seconds: number, cpuMicros: number | null, p99: number): Measured {
  return {
    requests,
    durationSeconds: seconds,
    rps: requests / seconds,
    latency: { p50: p99 / 2, p95: p99 * 0.8, p99, max: p99 * 3, mean: p99 / 2 },
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    statuses: { '2xx/3xx': requests },
    errorKinds: {},
    cpuMicrosPerRequest: cpuMicros,
    generator: {
      driver: 'wrk',
      threads: 1,
      processes: 1,
      cpuMicrosPerRequest: 20,
      latency: { figures: 'measured', syntheticSamples: 10 },
    },
  };
}

describe(median.name, () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow('median of no values');
  });
});

describe(medianRatios.name, () => {
  it("compares each round's service run with its own bare run, not with another round's", () => {
    // The machine slows down by half in the middle round: bare and service alike.
    const rounds = [
      { bare: run(30_000, 1, 35, 20), service: run(18_000, 1, 60, 36) },
      { bare: run(15_000, 1, 70, 40), service: run(9_000, 1, 120, 72) },
      { bare: run(30_000, 1, 35, 20), service: run(18_000, 1, 60, 36) },
    ];
    const m = medianRatios(rounds);
    expect(m.rps).toBeCloseTo(0.6);
    expect(m.cpu).toBeCloseTo(60 / 35);
    expect(m.p99).toBeCloseTo(1.8);
    // Against one bare run taken before the machine slowed, the slow round counts in full.
    const once = ratiosOf(combineRuns(rounds.map((r) => r.service)), rounds[0].bare);
    expect(once.cpu).toBeCloseTo(72 / 35); // (18,000 x 60 + 9,000 x 120 + 18,000 x 60) / 45,000 µs
  });

  it('has no CPU ratio when a round could not read CPU time', () => {
    const rounds = [{ bare: run(1000, 1, null, 10), service: run(500, 1, 40, 12) }];
    expect(medianRatios(rounds).cpu).toBeNull();
  });
});

describe(combineRuns.name, () => {
  it('adds requests and time, weighs CPU per request, takes the median percentiles', () => {
    const combined = combineRuns([
      run(10_000, 2, 50, 20),
      run(30_000, 2, 70, 30),
      run(20_000, 2, 60, 90),
    ]);
    expect(combined.requests).toBe(60_000);
    expect(combined.durationSeconds).toBe(6);
    expect(combined.rps).toBe(10_000);
    expect(combined.cpuMicrosPerRequest).toBeCloseTo(
      (10_000 * 50 + 30_000 * 70 + 20_000 * 60) / 60_000,
    );
    expect(combined.latency.p99).toBe(30);
    expect(combined.latency.max).toBe(270);
    expect(combined.statuses['2xx/3xx']).toBe(60_000);
    expect(combined.generator.latency).toEqual({ figures: 'measured', syntheticSamples: 30 });
  });

  it("says the figures are wrk's corrected ones when any run's were", () => {
    const corrected = run(100, 1, 10, 5);
    corrected.generator.latency = { figures: 'corrected', syntheticSamples: 0 };
    expect(combineRuns([run(100, 1, 10, 5), corrected]).generator.latency?.figures).toBe(
      'corrected',
    );
  });
});
