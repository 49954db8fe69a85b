/**
 * Drives a server with Debian's `wrk` (a C load generator, one epoll loop per thread) instead
 * of autocannon: on a small machine a Node generator saturates before the server does, which
 * flatters every ratio to a bare server. The requests are drawn in advance from the same
 * generator the autocannon driver calls (random user and model per request), written to a
 * file, and replayed by a Lua script (each wrk thread starts at its own offset).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadOptions, LoadRequest, LoadResult, processCpuSeconds } from './perf-load';
import { measuredLatencyLua } from './perf-wrk-latency';

/** What the generator itself cost: to show it was not the bottleneck. */
export interface GeneratorUse {
  driver: 'wrk' | 'autocannon';
  /** wrk threads per process (autocannon: 1). */
  threads: number;
  /** Generator processes (one per replica URL). */
  processes: number;
  /** CPU (user + system) the generator processes used, per response, in microseconds. */
  cpuMicrosPerRequest: number | null;
  /**
   * wrk: whether the latency figures are as recorded (`measured`) or wrk's own, corrected
   * for coordinated omission (`corrected`: its histogram could not be read), and how many
   * samples that correction had added (see perf-wrk-latency).
   */
  latency?: { figures: 'measured' | 'corrected'; syntheticSamples: number };
}

export interface WrkOptions extends LoadOptions {
  /** Threads per wrk process (default 1). */
  threads?: number;
  /** Distinct requests drawn in advance and replayed in a loop (default 60,000). */
  distinct?: number;
}

/**
 * The Lua script of a wrk process driving `connections`: loads the request file (one
 * request a line: method, path, body, then header name/value pairs, tab-separated),
 * pre-formats every request, and prints the summary as one JSON line on stdout when the run
 * ends, its latency as recorded (perf-wrk-latency).
 */
function script(connections: number): string {
  return measuredLatencyLua(connections) + SCRIPT_BODY;
}

const SCRIPT_BODY = String.raw`
local counter = 0
function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
end

local requests = {}
local i = 0

local function split(line)
  local out = {}
  local start = 1
  while true do
    local at = string.find(line, "\t", start, true)
    if not at then
      out[#out + 1] = string.sub(line, start)
      return out
    end
    out[#out + 1] = string.sub(line, start, at - 1)
    start = at + 1
  end
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local f = split(line)
    local headers = {}
    for k = 4, #f - 1, 2 do
      headers[f[k]] = f[k + 1]
    end
    local body = f[3]
    if body == "" then body = nil end
    requests[#requests + 1] = wrk.format(f[1], f[2], headers, body)
  end
  file:close()
  local threads = tonumber(args[2]) or 1
  i = math.floor((thread_index or 0) * #requests / threads)
end

function request()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  local l = measured_latency(summary, latency, connections)
  io.write(string.format(
    '\nWRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%f,"measured":%d,"synthetic":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    l.p50, l.p95, l.p99, l.max, l.mean, l.measured, l.synthetic))
end
`;

interface WrkSummary {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** 1: percentiles as recorded (wrk's coordinated-omission samples taken out); 0: wrk's own. */
  measured: number;
  /** Samples wrk's coordinated-omission correction had added (taken out when measured). */
  synthetic: number;
}

let wrkPath: string | null | undefined;

/** The wrk executable on PATH, or null. */
export function findWrk(): string | null {
  if (wrkPath === undefined) {
    const probe = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
    wrkPath = probe.status === 0 && probe.stdout.trim() !== '' ? probe.stdout.trim() : null;
  }
  return wrkPath;
}

/** Throws a message that says how to get wrk, or how to run without it (labelled). */
export function requireWrk(): string {
  const path = findWrk();
  if (path === null) {
    throw new Error(
      'wrk is not installed: the bench drives servers with wrk (Debian/Ubuntu: apt-get install wrk). ' +
        'To run anyway with autocannon, pass --driver autocannon: the report then says so on every ' +
        'table, because a Node generator on the same cores limits the bare server first and ' +
        'flatters every ratio.',
    );
  }
  return path;
}

function line(request: LoadRequest): string {
  const fields = [request.method ?? 'GET', request.path, request.body ?? ''];
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    fields.push(name, value);
  }
  for (const field of fields) {
    if (/[\t\n\r]/.test(field)) {
      throw new Error(`a bench request field contains a tab or newline: ${JSON.stringify(field)}`);
    }
  }
  return fields.join('\t');
}

/** `times` output of sh: the second line is the children's user and system time. */
function childCpuSeconds(stderr: string): number | null {
  const lines = stderr.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const parts = [...last.matchAll(/(\d+)m([\d.]+)s/g)];
  if (parts.length !== 2) {
    return null;
  }
  return parts.reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}

async function runOne(
  url: string,
  connections: number,
  threads: number,
  seconds: number,
  timeoutSeconds: number,
  dir: string,
): Promise<{ summary: WrkSummary; generatorCpu: number | null }> {
  const open = Math.max(connections, threads);
  const scriptFile = join(dir, `bench-${open}.lua`);
  writeFileSync(scriptFile, script(open));
  const args = [
    requireWrk(),
    `-t${threads}`,
    `-c${open}`,
    `-d${seconds}s`,
    `--timeout`,
    `${timeoutSeconds}s`,
    '-s',
    scriptFile,
    url,
    '--',
    join(dir, 'requests.tsv'),
    String(threads),
  ];
  // sh runs wrk, then prints (times) the CPU its children used: the generator's own cost.
  const child = spawn('sh', ['-c', '"$@"; status=$?; times >&2; exit $status', 'sh', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
  const marker = stdout.lastIndexOf('WRK_JSON ');
  if (code !== 0 || marker === -1) {
    throw new Error(`wrk failed (exit ${code}): ${stderr.trim() || stdout.trim()}`);
  }
  const summary = JSON.parse(stdout.slice(marker + 9).split('\n')[0]) as WrkSummary;
  return { summary, generatorCpu: childCpuSeconds(stderr) };
}

/**
 * Runs wrk against every URL at once (one process per URL, the connections split evenly)
 * for durationSeconds, charging server CPU from /proc. Latency percentiles of several
 * processes are not mergeable: p50 is their request-weighted mean, p95/p99/max the worst.
 * Responses with a status of 400 or more count as non-2xx (wrk's "status" errors).
 */
export async function runWrk(
  options: WrkOptions,
): Promise<LoadResult & { generator: GeneratorUse }> {
  const threads = options.threads ?? 1;
  const urls = [options.url].flat();
  const dir = mkdtempSync(join(tmpdir(), 'mas-wrk-'));
  try {
    const distinct = options.distinct ?? 60_000;
    const lines: string[] = [];
    for (let n = 0; n < distinct; n++) {
      lines.push(line(options.next()));
    }
    writeFileSync(join(dir, 'requests.tsv'), `${lines.join('\n')}\n`);
    const pids = options.serverPid === undefined ? [] : [options.serverPid].flat();
    const cpu = (): number | null => {
      const each = pids.map((pid) => processCpuSeconds(pid));
      return each.length === 0 || each.includes(null)
        ? null
        : (each as number[]).reduce((a, b) => a + b, 0);
    };
    const seconds = Math.max(1, Math.round(options.durationSeconds ?? 10));
    const cpuBefore = cpu();
    const runs = await Promise.all(
      urls.map((url, i) => {
        const share =
          Math.floor(options.connections / urls.length) +
          (i < options.connections % urls.length ? 1 : 0);
        return runOne(url, share, threads, seconds, 10, dir);
      }),
    );
    const cpuAfter = cpu();
    const requests = runs.reduce((n, r) => n + r.summary.requests, 0);
    const durationSeconds = Math.max(...runs.map((r) => r.summary.duration_us)) / 1e6;
    const worst = (key: 'p95' | 'p99' | 'max'): number =>
      Math.max(...runs.map((r) => r.summary[key])) / 1000;
    const weighted = (key: 'p50' | 'mean'): number =>
      requests === 0
        ? 0
        : runs.reduce((sum, r) => sum + r.summary[key] * r.summary.requests, 0) / requests / 1000;
    const sum = (key: keyof WrkSummary): number => runs.reduce((n, r) => n + r.summary[key], 0);
    const socketErrors = sum('connect') + sum('read') + sum('write');
    const timeouts = sum('timeout');
    const non2xx = sum('status');
    const generatorCpu = runs.every((r) => r.generatorCpu !== null)
      ? runs.reduce((n, r) => n + r.generatorCpu!, 0)
      : null;
    const errorKinds: Record<string, number> = {};
    for (const key of ['connect', 'read', 'write', 'timeout'] as const) {
      if (sum(key) > 0) {
        errorKinds[key] = sum(key);
      }
    }
    return {
      requests,
      durationSeconds,
      rps: requests / durationSeconds,
      latency: {
        p50: weighted('p50'),
        p95: worst('p95'),
        p99: worst('p99'),
        max: worst('max'),
        mean: weighted('mean'),
      },
      errors: socketErrors + timeouts,
      timeouts,
      non2xx,
      statuses: { '2xx/3xx': requests - non2xx, '>=400': non2xx },
      errorKinds,
      cpuMicrosPerRequest:
        cpuBefore !== null && cpuAfter !== null && requests > 0
          ? ((cpuAfter - cpuBefore) * 1e6) / requests
          : null,
      generator: {
        driver: 'wrk',
        threads,
        processes: urls.length,
        cpuMicrosPerRequest:
          generatorCpu !== null && requests > 0 ? (generatorCpu * 1e6) / requests : null,
        latency: {
          figures: runs.every((r) => r.summary.measured === 1) ? 'measured' : 'corrected',
          syntheticSamples: sum('synthetic'),
        },
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
