/**
 * Latency as measured, from wrk's own histogram.
 *
 * wrk 4.1 (Debian's) corrects its latency histogram for coordinated omission before the
 * script's `done()` sees it: for every response slower than twice the mean interval
 * between two requests of one connection (duration / (requests / connections)), it adds
 * synthetic samples of that latency minus one interval, minus two, and so on, as an
 * open-loop client sending at the mean rate would have waited. On a closed-loop run of a
 * saturated server that interval is the mean latency itself (10 to 20 ms at 300
 * connections), so one stall of a second becomes a hundred samples: a handful of slow
 * responses in a run made the p99 over a second and the mean several times what Little's
 * law allows (throughput x mean latency far above the connection count), while every
 * other figure of the run, and a client that records only what it sends, showed a p99 of
 * 15 to 25 ms against the same server.
 *
 * The bench measures a closed loop, so it reports the histogram as recorded: the Lua
 * below reads wrk's histogram (through LuaJIT's FFI: the `stats` struct of wrk 4.x,
 * whose userdata holds a pointer to it) and takes the synthetic samples out again, from
 * the slowest bucket down (a bucket's recorded count is its count less what the slower
 * buckets added to it). It checks that the histogram adds up to wrk's own count and that
 * the recorded samples do not outnumber the responses; when either fails (another wrk),
 * it falls back to wrk's figures and says so (`measured: 0`).
 */
const MEASURED_LATENCY_LUA = String.raw`
local ffi = require("ffi")
ffi.cdef[[
typedef struct { uint64_t count; uint64_t limit; uint64_t min; uint64_t max; uint64_t data[?]; } bench_wrk_stats;
]]

-- Latency percentiles (microseconds) of the responses as recorded, with wrk's
-- coordinated-omission samples taken out; measured = 0 when wrk's figures had to be used.
function measured_latency(summary, latency, connections)
  local wrk_figures = {
    measured = 0, synthetic = 0, mean = latency.mean, max = latency.max,
    p50 = latency:percentile(50), p95 = latency:percentile(95), p99 = latency:percentile(99)
  }
  local s = ffi.cast("bench_wrk_stats **", latency)[0]
  local count, low, high = tonumber(s.count), tonumber(s.min), tonumber(s.max)
  if count == 0 or low > high or high >= tonumber(s.limit) then
    return wrk_figures
  end
  local per_connection = math.floor(summary.requests / connections)
  local interval = per_connection > 0 and math.floor(summary.duration / per_connection) or 0
  local histogram_total = 0
  local added = {}
  local values, counts = {}, {}
  local total, sum = 0, 0
  for n = high, low, -1 do
    local in_bucket = tonumber(s.data[n])
    histogram_total = histogram_total + in_bucket
    local recorded = in_bucket - (added[n] or 0)
    if recorded > 0 then
      values[#values + 1] = n
      counts[#counts + 1] = recorded
      total = total + recorded
      sum = sum + recorded * n
      if interval > 0 and n >= 2 * interval then
        local m = n - interval
        while m > interval do
          added[m] = (added[m] or 0) + recorded
          m = m - interval
        end
      end
    end
  end
  if histogram_total ~= count or total == 0 or total > summary.requests then
    return wrk_figures
  end
  local function percentile(p)
    local rank = math.floor((p / 100) * total + 0.5 + 0.5)
    local seen = 0
    for i = #values, 1, -1 do
      seen = seen + counts[i]
      if seen >= rank then return values[i] end
    end
    return values[1]
  end
  return {
    measured = 1, synthetic = count - total, mean = sum / total, max = values[1],
    p50 = percentile(50), p95 = percentile(95), p99 = percentile(99)
  }
end
`;

/**
 * The Lua a bench script starts with: `measured_latency()` and the `connections` of its
 * wrk process (`-c`), which wrk's correction divided the run by.
 */
export function measuredLatencyLua(connections: number): string {
  return `${MEASURED_LATENCY_LUA}\nlocal connections = ${connections}\n`;
}
