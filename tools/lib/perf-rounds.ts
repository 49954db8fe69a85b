/**
 * Interleaved rounds: each scenario of `npm run bench` is measured in short rounds, each a
 * run of the bare server right before a run of the service, and its ratios to bare are the
 * medians of the rounds' own ratios. On a shared virtual machine the cost of everything
 * (the bare server's, the service's, the generator's) drifts by tens of percent over
 * minutes; a bare figure taken once at the start of the run then says more about when it
 * was taken than about the service. Two runs seconds apart see the same machine.
 */
import { LoadResult } from './perf-load';
import { GeneratorUse } from './perf-wrk';

/** One measured run and what its generator cost. */
export type Measured = LoadResult & { generator: GeneratorUse };

/** A bare run and the service run right after it. */
export interface Round {
  bare: Measured;
  service: Measured;
}

/** A measure against bare: throughput, CPU per request and p99, as service over bare. */
export interface Ratios {
  rps: number;
  /** Null when CPU time could not be read from /proc. */
  cpu: number | null;
  p99: number;
}

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) {
    throw new Error('median of no values');
  }
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The ratios of one service run to one bare run. */
export function ratiosOf(service: LoadResult, bare: LoadResult): Ratios {
  return {
    rps: service.rps / bare.rps,
    cpu:
      service.cpuMicrosPerRequest === null || bare.cpuMicrosPerRequest === null
        ? null
        : service.cpuMicrosPerRequest / bare.cpuMicrosPerRequest,
    p99: service.latency.p99 / bare.latency.p99,
  };
}

/** Each ratio's median over the rounds (each round's service run against its own bare run). */
export function medianRatios(rounds: readonly Round[]): Ratios {
  const each = rounds.map((r) => ratiosOf(r.service, r.bare));
  const cpu = each.map((r) => r.cpu);
  return {
    rps: median(each.map((r) => r.rps)),
    cpu: cpu.includes(null) ? null : median(cpu as number[]),
    p99: median(each.map((r) => r.p99)),
  };
}

/**
 * Several runs of one server as one figure: requests and time add up, so req/s is the
 * whole's; CPU per request (server and generator) is the whole's; latency percentiles are
 * the median of the runs' (percentiles of separate runs do not merge), the mean is the
 * request-weighted mean and the max the largest.
 */
export function combineRuns(runs: readonly Measured[]): Measured {
  if (runs.length === 0) {
    throw new Error('no runs to combine');
  }
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const durationSeconds = runs.reduce((n, r) => n + r.durationSeconds, 0);
  const weighted = (of: (r: Measured) => number | null): number | null => {
    if (requests === 0 || runs.some((r) => of(r) === null)) {
      return null;
    }
    return runs.reduce((sum, r) => sum + of(r)! * r.requests, 0) / requests;
  };
  const sum = (of: (r: Measured) => number): number => runs.reduce((n, r) => n + of(r), 0);
  const countsOf = (of: (r: Measured) => Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const r of runs) {
      for (const [key, n] of Object.entries(of(r))) {
        out[key] = (out[key] ?? 0) + n;
      }
    }
    return out;
  };
  const latencies = runs.map((r) => r.generator.latency);
  const first = runs[0].generator;
  return {
    requests,
    durationSeconds,
    rps: durationSeconds > 0 ? requests / durationSeconds : 0,
    latency: {
      p50: median(runs.map((r) => r.latency.p50)),
      p95: median(runs.map((r) => r.latency.p95)),
      p99: median(runs.map((r) => r.latency.p99)),
      max: Math.max(...runs.map((r) => r.latency.max)),
      mean: weighted((r) => r.latency.mean) ?? 0,
    },
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
    statuses: countsOf((r) => r.statuses),
    errorKinds: countsOf((r) => r.errorKinds),
    cpuMicrosPerRequest: weighted((r) => r.cpuMicrosPerRequest),
    generator: {
      ...first,
      cpuMicrosPerRequest: weighted((r) => r.generator.cpuMicrosPerRequest),
      ...(latencies.every((l) => l === undefined)
        ? {}
        : {
            latency: {
              figures: latencies.every((l) => l?.figures === 'measured') ? 'measured' : 'corrected',
              syntheticSamples: latencies.reduce((n, l) => n + (l?.syntheticSamples ?? 0), 0),
            },
          }),
    },
  };
}
