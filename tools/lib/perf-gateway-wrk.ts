/**
 * wrk for the gateway scenario (perf-gateway): the Lua script of one path, what its run
 * prints, and the added figures of a path over the direct one, round by round.
 *
 * The script's `response()` reads the stand-in's own hold time from each answer (the
 * leading `"bench_hold_us"` of perf-upstream's JSON answers) and `done()` prints, as one
 * JSON line, wrk's latency figures in microseconds with the sum of the holds. Mean latency
 * minus mean hold is then each path's own time per call, with the stand-in's delay taken
 * out call by call: its jitter no longer widens the figure, as it widens a percentile.
 */
import { median } from './perf-rounds';
import { measuredLatencyLua } from './perf-wrk-latency';

/** One wrk run of one path; times in ms. */
export interface WrkRun {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  /** Mean of the stand-in's hold times over the answers that carried one, or null if none. */
  holdMean: number | null;
  /** Connect, read, write errors and timeouts. */
  errors: number;
  /** Answers with a status other than 2xx. */
  non2xx: number;
  /** False when the percentiles are wrk's own, corrected for coordinated omission. */
  measuredLatency: boolean;
}

/**
 * The Lua script of wrk for one path: a POST of `body` with `authorization`, over
 * `connections` (its latency as recorded, perf-wrk-latency).
 */
export function gatewayWrkScript(body: string, authorization: string, connections: number): string {
  return (
    measuredLatencyLua(connections) +
    String.raw`wrk.method = "POST"
wrk.body = '${body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "${authorization}"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- globals of each thread's own Lua state, read back by done() with thread:get
hold_sum = 0
hold_calls = 0
non2xx = 0

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  local hold = string.match(body, '^{"bench_hold_us":(%d+)')
  if hold then
    hold_sum = hold_sum + tonumber(hold)
    hold_calls = hold_calls + 1
  end
end

function done(summary, latency, requests)
  local sum, calls, bad = 0, 0, 0
  for _, thread in ipairs(threads) do
    sum = sum + thread:get("hold_sum")
    calls = calls + thread:get("hold_calls")
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  local l = measured_latency(summary, latency, connections)
  io.write(string.format(
    '\nWRK_JSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p99_us":%d,"mean_us":%.3f,"hold_sum_us":%.0f,"hold_calls":%d,"measured":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, bad,
    l.p50, l.p99, l.mean, sum, calls, l.measured))
end
`
  );
}

interface WrkLine {
  requests: number;
  duration_us: number;
  errors: number;
  non2xx: number;
  p50_us: number;
  p99_us: number;
  mean_us: number;
  hold_sum_us: number;
  hold_calls: number;
  measured: number;
}

/** The run as the script's `done()` printed it on wrk's stdout. */
export function parseGatewayWrk(stdout: string): WrkRun {
  const marker = stdout.lastIndexOf('WRK_JSON ');
  if (marker === -1) {
    throw new Error(`wrk printed no summary:\n${stdout}`);
  }
  const line = JSON.parse(stdout.slice(marker + 9).split('\n')[0]) as WrkLine;
  return {
    requests: line.requests,
    rps: line.requests / (line.duration_us / 1e6),
    p50: line.p50_us / 1000,
    p99: line.p99_us / 1000,
    mean: line.mean_us / 1000,
    holdMean: line.hold_calls > 0 ? line.hold_sum_us / line.hold_calls / 1000 : null,
    errors: line.errors,
    non2xx: line.non2xx,
    measuredLatency: line.measured === 1,
  };
}

/**
 * A figure measured once per round: its median over the rounds (as the other scenarios
 * report theirs: one round the machine disturbed does not move it), and its spread.
 */
export interface RoundFigure {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

export function overRounds(values: number[]): RoundFigure {
  if (values.length === 0) {
    throw new Error('no rounds');
  }
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    rounds: values,
  };
}

/**
 * What `path` adds over `base` by `figure`, round by round: each round's runs are taken
 * back to back, so the difference within a round is less exposed to drift in the machine's
 * load than the difference of two means over the whole run.
 */
export function addedOver(
  base: WrkRun[],
  path: WrkRun[],
  figure: (run: WrkRun) => number,
): RoundFigure {
  if (base.length !== path.length) {
    throw new Error(`rounds differ: ${base.length} against ${path.length}`);
  }
  return overRounds(path.map((run, round) => figure(run) - figure(base[round])));
}

/** A run's own time per call: mean latency minus the stand-in's mean hold time. */
export function ownTime(run: WrkRun): number {
  if (run.holdMean === null) {
    throw new Error('the run has no hold times: the stand-in did not report them');
  }
  return run.mean - run.holdMean;
}
