import type autocannonType from 'autocannon';
import { readFileSync } from 'node:fs';
import { LatencySamples, LatencySummary } from './perf-stats';

/** One request of a load run, chosen afresh for every request. */
export interface LoadRequest {
  method?: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  /** One server, or several replicas sharing the connections evenly. */
  url: string | string[];
  connections: number;
  /** Run for this many seconds... */
  durationSeconds?: number;
  /** ...or send exactly this many requests. */
  amount?: number;
  next: () => LoadRequest;
  /** Server process(es) to charge CPU time to (Linux /proc), for CPU microseconds per request. */
  serverPid?: number | number[];
}

export interface LoadResult {
  requests: number;
  durationSeconds: number;
  rps: number;
  latency: LatencySummary;
  errors: number;
  timeouts: number;
  non2xx: number;
  statuses: Record<string, number>;
  /** Distinct request error messages (connection resets, timeouts), with counts. */
  errorKinds: Record<string, number>;
  /** Server CPU time (user + system) per response, in microseconds; null when unknown. */
  cpuMicrosPerRequest: number | null;
}

/** CPU seconds (user + system) a process used so far, from /proc; null where unavailable. */
export function processCpuSeconds(pid: number | undefined): number | null {
  if (!pid) {
    return null;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * Waits until none of `pids` used more than one clock tick of CPU (10 ms, 2% of a CPU) over
 * half a second, or `limitMs` passed; answers how long it waited, in ms. Work a process does
 * after a load (writes queued by it, the garbage collector's helper threads finishing what it
 * left) belongs to neither the next run's latency nor its CPU per request.
 */
export async function waitUntilIdle(pids: readonly number[], limitMs = 5_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const before = pids.map((pid) => processCpuSeconds(pid) ?? 0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const busiest = Math.max(...pids.map((pid, i) => (processCpuSeconds(pid) ?? 0) - before[i]));
    if (busiest <= 0.01 || Date.now() - started > limitMs) {
      return Date.now() - started;
    }
  }
}

/**
 * autocannon is a development dependency: it is loaded only when a load is driven (`bench`,
 * `monitor benchmark`), so `monitor report|continuous` and the other tools run in a production
 * install (`npm ci --omit=dev`). Without it, the message says how to get it.
 */
export function loadAutocannon(): typeof autocannonType {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('autocannon') as typeof autocannonType;
  } catch (error) {
    throw new Error(
      `driving load needs the autocannon package, a development dependency that a production install (npm ci --omit=dev) leaves out: install the development dependencies (npm ci) to run benchmarks (${(error as Error).message.split('\n')[0]})`,
    );
  }
}

/** Drives url with autocannon (HTTP/1.1 keep-alive, no pipelining); latency of every response. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const autocannon = loadAutocannon();
  const samples = new LatencySamples();
  const statuses: Record<string, number> = {};
  const pids = options.serverPid === undefined ? [] : [options.serverPid].flat();
  const cpu = () => {
    const each = pids.map((pid) => processCpuSeconds(pid));
    return each.length === 0 || each.includes(null)
      ? null
      : (each as number[]).reduce((a, b) => a + b, 0);
  };
  const cpuBefore = cpu();
  const started = process.hrtime.bigint();
  const urls = [options.url].flat();
  const errorKinds: Record<string, number> = {};
  const instances = urls.map((url, i) => {
    const share = (n: number) => Math.floor(n / urls.length) + (i < n % urls.length ? 1 : 0);
    return startInstance(url, share(options.connections), share(options.amount ?? 0));
  });

  function startInstance(url: string, connections: number, amount: number) {
    const instance = autocannon({
      url,
      connections,
      pipelining: 1,
      timeout: 10,
      ...(options.amount !== undefined ? { amount } : { duration: options.durationSeconds ?? 10 }),
      requests: [
        {
          setupRequest: (request) => {
            const next = options.next();
            return {
              ...request,
              method: next.method ?? 'GET',
              path: next.path,
              headers: { ...(request.headers ?? {}), ...(next.headers ?? {}) },
              body: next.body ?? '',
            };
          },
        },
      ],
    });
    instance.on('reqError', (error: Error) => {
      const kind = (error as { code?: string }).code ?? error.message;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    });
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      samples.add(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
    return instance;
  }

  const results = await Promise.all(instances);
  const result = {
    errors: results.reduce((n, r) => n + r.errors, 0),
    timeouts: results.reduce((n, r) => n + r.timeouts, 0),
    non2xx: results.reduce((n, r) => n + r.non2xx, 0),
  };
  const durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = cpu();
  return {
    requests: samples.size,
    durationSeconds,
    rps: samples.size / durationSeconds,
    latency: samples.summary(),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses,
    errorKinds,
    cpuMicrosPerRequest:
      cpuBefore !== null && cpuAfter !== null && samples.size > 0
        ? ((cpuAfter - cpuBefore) * 1e6) / samples.size
        : null,
  };
}
