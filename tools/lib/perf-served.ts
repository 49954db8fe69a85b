/**
 * What the service measured of itself during a scenario, from its /metrics before and after:
 * its own request histogram (from the moment it parsed a request to the answer), the
 * garbage collector's pauses and the event loop's longest delay. The load generator sees
 * more than the histogram: a request that waits in the socket while the event loop is busy
 * (a collection, a long synchronous step) is late before the server's clock starts. The
 * collector's pauses and the loop's delay say how much of a client-side tail is that.
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';

/** The figures of one /metrics text; counters are cumulative since the process started. */
export interface ServedCounts {
  /** Requests answered, and those that took over 100 ms, all and writes (not GET) only. */
  all: number;
  allOver100ms: number;
  writes: number;
  writesOver100ms: number;
  /** Requests that took over 1 s and over 5 s. */
  over1s: number;
  over5s: number;
  /** Collections by kind (minor, major, incremental, weakcb): how many, and seconds paused. */
  gc: Record<string, { count: number; seconds: number }>;
  /**
   * The event loop's longest delay since the previous scrape (prom-client resets its
   * monitor on every scrape), in seconds; null when not exported.
   */
  loopMaxSeconds: number | null;
}

const HISTOGRAM = 'http_request_duration_seconds_bucket{';
const GC_SUM = 'nodejs_gc_duration_seconds_sum{';
const GC_COUNT = 'nodejs_gc_duration_seconds_count{';
const LOOP_MAX = 'nodejs_eventloop_lag_max_seconds';

/** The figures of a Prometheus text exposition (see ServedCounts). */
export function parseServed(text: string): ServedCounts {
  const counts: ServedCounts = {
    all: 0,
    allOver100ms: 0,
    writes: 0,
    writesOver100ms: 0,
    over1s: 0,
    over5s: 0,
    gc: {},
    loopMaxSeconds: null,
  };
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(HISTOGRAM)) {
      const write = !line.includes('method="GET"');
      if (line.includes('le="+Inf"')) {
        counts.all += value;
        counts.allOver100ms += value;
        counts.over1s += value;
        counts.over5s += value;
        if (write) {
          counts.writes += value;
          counts.writesOver100ms += value;
        }
      } else if (line.includes('le="0.1"')) {
        counts.allOver100ms -= value;
        if (write) {
          counts.writesOver100ms -= value;
        }
      } else if (line.includes('le="1"')) {
        counts.over1s -= value;
      } else if (line.includes('le="5"')) {
        counts.over5s -= value;
      }
    } else if (line.startsWith(GC_SUM) || line.startsWith(GC_COUNT)) {
      const kind = /kind="([^"]*)"/.exec(line)?.[1] ?? 'unknown';
      const gc = (counts.gc[kind] ??= { count: 0, seconds: 0 });
      if (line.startsWith(GC_SUM)) {
        gc.seconds += value;
      } else {
        gc.count += value;
      }
    } else if (line.startsWith(`${LOOP_MAX} `)) {
      counts.loopMaxSeconds = value;
    }
  }
  return counts;
}

/** The service's /metrics figures, or null when it does not answer them. */
export async function fetchServed(url: string): Promise<ServedCounts | null> {
  try {
    const res = await fetch(`${url}/metrics`);
    return res.ok ? parseServed(await res.text()) : null;
  } catch {
    return null;
  }
}

const share = (part: number, whole: number): string =>
  whole === 0 ? '-' : `${((100 * part) / whole).toFixed(2)}%`;

/**
 * What the servers (one per replica) measured between two readings, as a sentence: requests
 * over 100 ms (left out with `requests: false`, e.g. for gateway calls that wait 100 ms for
 * their upstream by design), the collector's pauses by kind, and the longest event loop
 * delay of any of them. Null when a reading is missing.
 */
export function servedSentence(
  before: readonly (ServedCounts | null)[],
  after: readonly (ServedCounts | null)[],
  { requests = true }: { requests?: boolean } = {},
): string | null {
  let all = 0;
  let allOver = 0;
  let writes = 0;
  let writesOver = 0;
  const gc = new Map<string, { count: number; seconds: number }>();
  let loopMax: number | null = null;
  for (const [i, a] of after.entries()) {
    const b = before[i];
    if (!a || !b) {
      return null;
    }
    all += a.all - b.all;
    allOver += a.allOver100ms - b.allOver100ms;
    writes += a.writes - b.writes;
    writesOver += a.writesOver100ms - b.writesOver100ms;
    for (const [kind, g] of Object.entries(a.gc)) {
      const was = b.gc[kind] ?? { count: 0, seconds: 0 };
      const sum = gc.get(kind) ?? { count: 0, seconds: 0 };
      sum.count += g.count - was.count;
      sum.seconds += g.seconds - was.seconds;
      gc.set(kind, sum);
    }
    if (a.loopMaxSeconds !== null) {
      loopMax = Math.max(loopMax ?? 0, a.loopMaxSeconds);
    }
  }
  const paused = [...gc]
    .filter(([, g]) => g.count > 0)
    .map(
      ([kind, g]) =>
        `${kind} ${g.count} (${(g.seconds * 1000).toFixed(0)} ms, mean ${((g.seconds * 1000) / g.count).toFixed(1)} ms)`,
    );
  return (
    (requests
      ? `${allOver} of ${all} requests took over 100 ms ` +
        `(${share(allOver, all)}; a p99 within 100 ms needs under 1%), ` +
        `writes ${writesOver} of ${writes} (${share(writesOver, writes)}); `
      : '') +
    `garbage collection by kind: ${paused.length > 0 ? paused.join(', ') : 'none reported'}; ` +
    `longest event loop delay ${loopMax === null ? '-' : `${(loopMax * 1000).toFixed(1)} ms`}`
  );
}

/** Where the bench's reference servers (bare server, bare proxy) answer their loop delay. */
export const LOOP_DELAY_PATH = '/loop-delay';

/**
 * A reference server's side of `GET /loop-delay`: monitors this process's event loop (10 ms
 * resolution, as prom-client's monitor in the service) and answers its longest delay since
 * the previous call, starting over.
 */
export function loopDelayReader(): () => { max_ms: number } {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  return () => {
    const answer = { max_ms: loop.max / 1e6 };
    loop.reset();
    return answer;
  };
}

/**
 * The bare server's longest event loop delay since the previous call, in ms (its
 * `GET /loop-delay`, which then starts over), or null when it does not answer.
 */
export async function fetchBareLoopDelayMs(url: string): Promise<number | null> {
  try {
    const res = await fetch(`${url}${LOOP_DELAY_PATH}`);
    if (!res.ok) {
      return null;
    }
    const body = (await res.json()) as { max_ms?: unknown };
    return typeof body.max_ms === 'number' ? body.max_ms : null;
  } catch {
    return null;
  }
}
