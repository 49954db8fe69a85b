/**
 * `npm run bench`: seeds a world, starts the built service and a bare Fastify server,
 * drives both with wrk and reports throughput, latency and server CPU per request side by
 * side. Run `npm run bench -- --help` for the options.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import { signWebUiToken } from '../src/auth/jwt';
import { ArgsSpec, numberArg, parseArgs, secondsArg, stringArg } from './lib/args';
import { benchGateway, GatewayBenchResult, PathName, PATHS } from './lib/perf-gateway';
import { RoundFigure } from './lib/perf-gateway-wrk';
import { LoadOptions, LoadRequest, LoadResult, runLoad } from './lib/perf-load';
import { combineRuns, Measured, medianRatios, Ratios, ratiosOf, Round } from './lib/perf-rounds';
import { requireWrk, runWrk } from './lib/perf-wrk';
import {
  ChildServer,
  createPostgresDatabase,
  ROOT,
  startBareServer,
  startService,
} from './lib/perf-process';
import { impossibleInFlight, markdownTable, ms, pct, textTable } from './lib/perf-stats';
import { buildWorld, SCALE_WORLD, seedWorld, SMALL_WORLD, World } from './lib/perf-world';
import { prng } from './lib/prng';
import { readCpuTicks, stealPercent, stealSentence } from './lib/perf-steal';
import { fetchBareLoopDelayMs, fetchServed, servedSentence } from './lib/perf-served';

const HELP = `Usage: npm run bench -- [options]

Seeds a fresh database (10,000 users, 100 organizations, 500 models by default), starts the
built service (node dist/src/main.js) and a bare Fastify server, drives each with wrk (random
user and model per request), and reports requests/s, latency p50/p95/p99, errors, server CPU
per request (from /proc) and the ratios to the bare server; the headline figure is the ratio
of CPU per request, the least disturbed by other load on the machine. Each scenario is
measured in rounds, each a run of the bare server right before a run of the service, and its
ratios are the medians of the rounds' (the machine's speed drifts; two runs seconds apart see
the same machine). Beside each scenario it prints what the service measured of itself over
the rounds (requests over 100 ms, garbage collections, its event loop's longest delay, and
the bare server's longest delay over the same rounds) and the CPU steal (time the hypervisor
gave this machine's CPUs to other guests; above 3% the host is called noisy).
Writes bench-results/bench-<time>.json, bench-results/latest.json and the results section of
BENCHMARKS.md.

Options:
  --duration <s>        measured seconds per scenario (default 10), split into the rounds
  --rounds <n>          rounds per scenario, each a bare run then a service run of
                        duration / rounds seconds (default 5, so 2 s each)
  --warmup <s>          unmeasured seconds before each scenario (default 2)
  --connections <n>     concurrent connections (default 300)
  --write-ratio <r>     share of writes in the mixed run (default 0.03: 2% membership, 1% grant)
  --scale               also run the large world (100,000 users, 1,000 organizations,
                        2,000 models) and compare its access check with the small world's
  --postgres <url>      also run on PostgreSQL: a fresh database is created on that server
                        (e.g. postgres://postgres@127.0.0.1:5432/postgres) and dropped after
  --replicas <n>        with --postgres: also run the access check and the mixed run against n
                        replicas of the service on one PostgreSQL database, the connections
                        split evenly between them (default 2; 1 turns it off)
  --only <list>         scenarios to run, comma-separated: check,user-models,openai-models,mixed;
                        or \`gateway\` alone: the upstream stand-in (tools/lib/perf-upstream) called
                        directly, through a bare Node proxy and through /v1 with wrk at 100
                        connections, answering after 100 ± 10 ms as a model would (added
                        p50/p99 over direct, the bare proxy's as the machine's floor, and
                        what a budget reservation adds; each path warmed 4 s at saturation
                        and 2 s as measured, then 3 interleaved rounds of --duration per
                        path; the service and the bare proxy pinned to the last CPU),
                        the most calls per second of each path, time to first streamed byte,
                        RSS with 1,000 open streams and its growth over 10,000 streamed
                        100 KB answers (after 2,000 that set up the path's working memory),
                        and ledger rows lost; writes bench-results/gateway-<time>.json and
                        gateway-latest.json
  --service <dirs>      the builds to measure, comma-separated: each <dir>/dist/src/main.js is
                        run on its own freshly seeded database, same scenarios, same bare
                        reference (\`.\` is this checkout, the default). Before/after in one run:
                        --service /path/to/old-checkout,.
  --driver <name>       load generator: wrk (default; an error when it is not installed) or
                        autocannon (one Node process; every table then says so, because it
                        saturates before the bare server on a small machine)
  --threads <n>         wrk threads per generator process to start from (default 1); the bare
                        server is then driven with twice as many, and while that raises its
                        figure by more than 10% the runs use the doubled generator (up to 4)
  --cpu-prof <dir>      start the service (and the bare server) with node --cpu-prof, writing
                        .cpuprofile files into <dir> when they stop
  --gc-trace <file>     with --only gateway: start the service with node --trace-gc (full
                        collections), write the trace to <file>, and report the collections
                        of the measured rounds and of the saturation runs: final pauses, the
                        longest incremental marking step, how many the memory reducer started,
                        and the live heap after them
  --no-markdown         do not rewrite BENCHMARKS.md
  --json <file>         also write the JSON report there
  --help                this text

Targets (same run, same machine): access check >= 60% of bare req/s, CPU per request
<= 1.7x bare's, p99 <= 2x bare p99, zero errors and non-2xx; user model listing and
/v1/models >= 50% of bare req/s; mixed run with writes: zero errors and non-2xx, and on
PostgreSQL p99 <= 100 ms; with replicas: the mixed run through them serves at least what one
replica serves (each against the bare runs beside it); --scale: access check keeps >= 80% of
its small-world req/s.`;

/** How long the gateway scenario's stand-in takes to answer a non-streamed call (see perf-gateway). */
const GATEWAY_UPSTREAM_DELAY_MS = 100;
/**
 * How far each of those answers strays from it, either way (uniform): enough to break the
 * lockstep of a fixed delay, narrow enough to read the p50 to 0.1 ms (see perf-gateway).
 */
const GATEWAY_UPSTREAM_JITTER_MS = 10;

const ARGS: ArgsSpec = {
  options: [
    { name: 'duration', type: 'string' },
    { name: 'rounds', type: 'string' },
    { name: 'warmup', type: 'string' },
    { name: 'connections', type: 'string' },
    { name: 'write-ratio', type: 'string' },
    { name: 'scale', type: 'boolean' },
    { name: 'postgres', type: 'string' },
    { name: 'replicas', type: 'string' },
    { name: 'only', type: 'string' },
    { name: 'service', type: 'string' },
    { name: 'driver', type: 'string' },
    { name: 'threads', type: 'string' },
    { name: 'cpu-prof', type: 'string' },
    { name: 'gc-trace', type: 'string' },
    { name: 'no-markdown', type: 'boolean' },
    { name: 'json', type: 'string' },
  ],
};

const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const SECRET = 'bench-webui-secret-0123456789abcdef';
const SCENARIOS = ['check', 'user-models', 'openai-models', 'mixed'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Row {
  world: 'small' | 'scale';
  /** sqlite, postgres, or `postgres x<n>` for n replicas on one PostgreSQL database. */
  database: string;
  scenario: Scenario | 'bare';
  /** The build measured (`.` for this checkout), shown when the run compares several. */
  build: string;
  /** The service's runs combined (the bare row: the bare server's first run). */
  result: Measured;
  /** The interleaved rounds: each a bare run, then the service's run (not on the bare row). */
  rounds?: Round[];
  seedSeconds?: number;
  /** Each CPU's stolen share (percent) during the rounds; see perf-steal. */
  steal?: Record<string, number>;
}

/**
 * A row's ratios to bare: the medians over its rounds of each round's service run against
 * the bare run right before it; for a row without rounds, against the first bare run.
 */
function ratiosOfRow(row: Row, bare: LoadResult): Ratios {
  return row.rounds ? medianRatios(row.rounds) : ratiosOf(row.result, bare);
}

/**
 * A row's req/s as a share of another row's, each against the bare runs beside it, so that
 * the machine's drift between the two rows' runs does not count.
 */
function rpsAgainst(row: Row, other: Row, bare: LoadResult): number {
  return ratiosOfRow(row, bare).rps / ratiosOfRow(other, bare).rps;
}

/** The bare server's runs beside a row's (its rounds' bare runs combined), or the first one. */
function bareOfRow(row: Row, bare: Measured): Measured {
  return row.rounds ? combineRuns(row.rounds.map((r) => r.bare)) : bare;
}

interface Verdict {
  name: string;
  target: string;
  measured: string;
  pass: boolean;
}

/** How load is generated: wrk (default) or, when asked for, autocannon. */
interface Driver {
  name: 'wrk' | 'autocannon';
  threads: number;
}

/** Runs one load with the chosen generator. */
async function drive(
  driver: Driver,
  options: LoadOptions,
  threads = driver.threads,
): Promise<Measured> {
  if (driver.name === 'wrk') {
    return runWrk({ ...options, threads });
  }
  const result = await runLoad(options);
  return {
    ...result,
    generator: {
      driver: 'autocannon',
      threads: 1,
      processes: 1,
      cpuMicrosPerRequest: null,
    },
  };
}

/** Request generators over the seeded world (random users and models, fixed seed). */
class Traffic {
  private readonly random = prng(7);
  private readonly tokens: string[];
  private readonly tokenUsers: number[];
  private readonly writableMemberships: [number, number][] = [];
  private readonly auth = { authorization: `Bearer ${ADMIN_KEY}` };

  constructor(private readonly world: World) {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const pool = Math.min(world.userIds.length, 5000);
    this.tokenUsers = Array.from({ length: pool }, () => this.int(world.userIds.length));
    this.tokens = this.tokenUsers.map((u) => signWebUiToken({ id: world.userIds[u], exp }, SECRET));
    world.membershipsOf.forEach((orgs, u) => {
      for (const o of orgs) {
        if (o % 50 !== 13) {
          this.writableMemberships.push([u, o]);
        }
      }
    });
  }

  private int(n: number): number {
    return Math.floor(this.random() * n);
  }

  check(): LoadRequest {
    const u = this.int(this.world.userIds.length);
    const orgs = this.world.membershipsOf[u];
    const granted = this.world.grantsOf[orgs[0]];
    const model =
      this.random() < 0.5
        ? granted[this.int(granted.length)]
        : this.world.modelIds[this.int(this.world.modelIds.length)];
    return {
      path: `/api/v1/access/check?user_id=${this.world.userIds[u]}&model_id=${encodeURIComponent(model)}`,
      headers: this.auth,
    };
  }

  userModels(u = this.int(this.world.userIds.length)): LoadRequest {
    return { path: `/api/v1/users/${this.world.userIds[u]}/models`, headers: this.auth };
  }

  openAiModels(): LoadRequest {
    return {
      path: '/v1/models',
      headers: { authorization: `Bearer ${this.tokens[this.int(this.tokens.length)]}` },
    };
  }

  /** Mostly access checks; writeRatio of requests are membership (2/3) or grant (1/3) writes. */
  mixed(writeRatio: number): LoadRequest {
    const r = this.random();
    if (r >= writeRatio) {
      return this.check();
    }
    const json = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    if (r < (writeRatio * 2) / 3) {
      const [u, o] = this.writableMemberships[this.int(this.writableMemberships.length)];
      return {
        method: 'PUT',
        path: `/api/v1/organizations/${this.world.organizationIds[o]}/members/${this.world.userIds[u]}`,
        headers: json,
        body: JSON.stringify({ is_active: this.random() < 0.9 }),
      };
    }
    let o = this.int(this.world.organizationIds.length);
    if (o % 50 === 13) {
      o = (o + 1) % this.world.organizationIds.length;
    }
    const grants = this.world.grantsOf[o];
    return {
      method: 'PUT',
      path: `/api/v1/organizations/${this.world.organizationIds[o]}/models/${encodeURIComponent(grants[this.int(grants.length)])}`,
      headers: json,
      body: JSON.stringify({ is_active: this.random() < 0.9 }),
    };
  }

  next(scenario: Scenario, writeRatio: number): () => LoadRequest {
    switch (scenario) {
      case 'check':
        return () => this.check();
      case 'user-models':
        return () => this.userModels();
      case 'openai-models':
        return () => this.openAiModels();
      case 'mixed':
        return () => this.mixed(writeRatio);
    }
  }
}

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * One line per measured run: throughput, latency, errors, server and generator CPU; and a
 * warning when the client's latency figures break Little's law.
 */
function summary(r: Measured, connections: number): string {
  const errors = r.errors > 0 ? ` ${JSON.stringify(r.errorKinds)}` : '';
  const server = r.cpuMicrosPerRequest?.toFixed(0) ?? '-';
  const generator = r.generator.cpuMicrosPerRequest?.toFixed(0) ?? '-';
  const inFlight = impossibleInFlight(r.rps, r.latency.mean, connections);
  const inconsistent =
    inFlight === null
      ? ''
      : `; client latencies not self-consistent (throughput x mean latency = ${inFlight.toFixed(0)} in flight for ${connections} connections: its percentiles are not elapsed times)`;
  const latency = r.generator.latency;
  const figures =
    latency === undefined
      ? ''
      : latency.figures === 'corrected'
        ? "; LATENCIES ARE WRK'S, CORRECTED FOR COORDINATED OMISSION (its histogram could not be read)"
        : latency.syntheticSamples > 0
          ? `; latencies as recorded (wrk's coordinated-omission correction had added ${latency.syntheticSamples} samples, taken out)`
          : '';
  return (
    `${r.rps.toFixed(0)} req/s, p99 ${ms(r.latency.p99)} ms, errors ${r.errors}${errors}, ` +
    `non-2xx ${r.non2xx}, server ${server} µs CPU/req, generator ${generator} µs CPU/req${figures}${inconsistent}`
  );
}

/**
 * The bare runs beside a scenario's and each round's ratios, as a log fragment: the bare
 * server's combined figures, each round's CPU-per-request ratio, and the median ratios.
 */
function besideBare(rounds: readonly Round[]): string {
  const bare = combineRuns(rounds.map((r) => r.bare));
  const each = rounds.map((r) => times(ratiosOf(r.service, r.bare).cpu)).join(', ');
  const m = medianRatios(rounds);
  return (
    `${bare.rps.toFixed(0)} req/s, ${micros(bare.cpuMicrosPerRequest)} µs CPU/req over ` +
    `${rounds.length} rounds; CPU/req ratio per round ${each}; medians: req/s ${pct(m.rps)}, ` +
    `CPU/req ${times(m.cpu)}, p99 ${times(m.p99)}`
  );
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await fn();
  const seconds = (Date.now() - started) / 1000;
  log(`${label}: ${seconds.toFixed(1)} s`);
  return [value, seconds];
}

async function runWorld(
  world: World,
  worldName: 'small' | 'scale',
  database: 'sqlite' | 'postgres',
  postgresBase: string | undefined,
  scenarios: Scenario[],
  opts: {
    duration: number;
    warmup: number;
    connections: number;
    writeRatio: number;
    driver: Driver;
    /** The build: `.` for this checkout, or a directory holding dist/src/main.js. */
    build: string;
    cpuProf?: string;
    replicas?: number;
    /** Rounds per scenario, each a bare run then a service run of duration / rounds. */
    rounds: number;
    /** The bare server, driven beside every scenario. */
    bare: ChildServer;
  },
): Promise<Row[]> {
  const replicas = opts.replicas ?? 1;
  const label = replicas > 1 ? `${database} x${replicas}` : database;
  const serviceRoot = opts.build === '.' ? ROOT : resolve(opts.build);
  const nodeArgs = opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resolve(opts.cpuProf)}`] : [];
  let url: string;
  let cleanup: () => Promise<void>;
  if (database === 'postgres') {
    const db = await createPostgresDatabase(postgresBase!);
    url = db.url;
    cleanup = () => db.drop();
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'mas-bench-'));
    url = `sqlite:${join(dir, 'bench.db')}`;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  const rows: Row[] = [];
  const services: ChildServer[] = [];
  try {
    const [, seedSeconds] = await timed(
      `seed ${worldName} world on ${database} (${world.counts.users} users, ${world.counts.members} memberships, ${world.counts.grants} grants)`,
      () => seedWorld(url, world),
    );
    const env = {
      DATABASE_URL: url,
      ADMIN_API_KEYS: ADMIN_KEY,
      WEBUI_SECRET_KEY: SECRET,
      AUTH_FAILURE_LIMIT: '1000000',
      ACCESS_CACHE_SIZE: String(Math.max(100_000, world.counts.users)),
    };
    // Replicas start at the same moment on the seeded database, as they would in production.
    services.push(
      ...(await Promise.all(
        Array.from({ length: replicas }, () => startService(env, serviceRoot, nodeArgs)),
      )),
    );
    for (const service of services) {
      log(`service pid ${service.pid} at ${service.url} (build ${opts.build})`);
    }
    const urls = services.map((s) => s.url);
    const pids = services.map((s) => s.pid);
    const traffic = new Traffic(world);
    const bareTraffic = new Traffic(world).next('check', 0);
    let next = 0;
    await timed(`warm-up: one model listing per user (${world.userIds.length})`, () =>
      runLoad({
        url: urls,
        connections: 50,
        amount: world.userIds.length * replicas,
        next: () => traffic.userModels(next++ % world.userIds.length),
      }),
    );
    for (const scenario of scenarios) {
      const generator = traffic.next(scenario, opts.writeRatio);
      // The mixed run starts on the warm cache the read scenarios left (no warm-up of its own:
      // see BENCHMARKS.md, known gaps).
      if (opts.warmup > 0 && scenario !== 'mixed') {
        await drive(opts.driver, {
          url: urls,
          connections: opts.connections,
          durationSeconds: opts.warmup,
          next: generator,
        });
      }
      const tcpBefore = tcpCounters();
      const servedBefore = await Promise.all(urls.map(fetchServed));
      await fetchBareLoopDelayMs(opts.bare.url);
      const roundSeconds = Math.max(1, Math.round(opts.duration / opts.rounds));
      const rounds: Round[] = [];
      const ticksBefore = readCpuTicks();
      for (let i = 0; i < opts.rounds; i++) {
        const bare = await drive(opts.driver, {
          url: opts.bare.url,
          connections: opts.connections,
          durationSeconds: roundSeconds,
          next: bareTraffic,
          serverPid: opts.bare.pid,
        });
        const service = await drive(opts.driver, {
          url: urls,
          connections: opts.connections,
          durationSeconds: roundSeconds,
          next: generator,
          serverPid: pids,
        });
        rounds.push({ bare, service });
      }
      const steal = stealPercent(ticksBefore, readCpuTicks());
      const result = combineRuns(rounds.map((r) => r.service));
      log(
        `${worldName}/${label}/${scenario} (build ${opts.build}): ${summary(result, opts.connections)}${tcpGrowth(tcpBefore)}`,
      );
      log(
        `${worldName}/${label}/${scenario} (build ${opts.build}), beside bare: ${besideBare(rounds)}`,
      );
      const served = servedSentence(servedBefore, await Promise.all(urls.map(fetchServed)));
      const bareLoop = await fetchBareLoopDelayMs(opts.bare.url);
      if (served) {
        log(
          `${worldName}/${label}/${scenario} (build ${opts.build}), server side: ${served}` +
            (bareLoop === null
              ? ''
              : ` (the bare server's, same rounds: ${bareLoop.toFixed(1)} ms)`),
        );
      }
      const stolen = stealSentence(steal, 'these rounds');
      if (stolen) {
        log(`${worldName}/${label}/${scenario} (build ${opts.build}): ${stolen}`);
      }
      rows.push({
        world: worldName,
        database: label,
        scenario,
        build: opts.build,
        result,
        rounds,
        seedSeconds,
        steal: steal ?? undefined,
      });
    }
    for (const service of services) {
      const slow = await fetchServed(service.url);
      if (slow !== null) {
        log(
          `server side (${worldName}/${label}, pid ${service.pid}): ${slow.over1s} requests took over 1 s, ${slow.over5s} over 5 s (from /metrics)`,
        );
      }
    }
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await cleanup();
  }
  return rows;
}

/**
 * Machine-wide TCP counters (Linux /proc/net): retransmitted segments, retransmission
 * timeouts and listen-queue overflows. On a saturated machine the kernel's loopback path
 * retransmits, and a request then waits seconds that the server never sees (BENCHMARKS.md,
 * client timeouts); the bench logs the counters' growth over each run to tell it apart.
 */
function tcpCounters(): Record<string, number> | null {
  try {
    const read = (file: string, prefix: string): Record<string, number> => {
      const lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith(`${prefix}:`));
      const names = lines[0].split(/\s+/).slice(1);
      const values = lines[1].split(/\s+/).slice(1).map(Number);
      return Object.fromEntries(names.map((n, i) => [n, values[i]]));
    };
    const tcp = read('/proc/net/snmp', 'Tcp');
    const ext = read('/proc/net/netstat', 'TcpExt');
    return {
      retransmitted: tcp.RetransSegs,
      timeouts: ext.TCPTimeouts,
      listenOverflows: ext.ListenOverflows,
    };
  } catch {
    return null;
  }
}

/** How much each TCP counter grew since `before`, as a log fragment. */
function tcpGrowth(before: Record<string, number> | null): string {
  const after = tcpCounters();
  if (!before || !after) {
    return '';
  }
  return `; machine TCP during the run: ${Object.keys(after)
    .map((k) => `${k} +${after[k] - before[k]}`)
    .join(', ')}`;
}

const times = (value: number | null): string => (value === null ? '-' : `${value.toFixed(2)}x`);
const micros = (value: number | null): string => (value === null ? '-' : value.toFixed(0));

/** The mixed run's p99 on PostgreSQL (one process, 3% writes by default), in milliseconds. */
const MIXED_P99_MS = 100;

/** The targets of the hot path, checked for every build measured (one process, small world). */
const THROUGHPUT_TARGETS: Partial<Record<Scenario, number>> = {
  check: 0.6,
  'user-models': 0.5,
  'openai-models': 0.5,
};

function verdicts(rows: Row[], bare: LoadResult, builds: string[]): Verdict[] {
  const out: Verdict[] = [];
  const find = (build: string, world: string, database: string, scenario: string) =>
    rows.find(
      (r) =>
        r.build === build &&
        r.world === world &&
        r.database === database &&
        r.scenario === scenario,
    );
  for (const row of rows) {
    const r = row.result;
    const ratios = ratiosOfRow(row, bare);
    const label = `${builds.length > 1 ? `${row.build}: ` : ''}${row.world}/${row.database}/${row.scenario}`;
    out.push({
      name: `${label} errors`,
      target: '0 errors, 0 non-2xx',
      measured: `${r.errors} errors (${r.timeouts} timeouts), ${r.non2xx} non-2xx`,
      pass: r.errors === 0 && r.non2xx === 0,
    });
    const oneProcess = !row.database.includes(' x');
    const floor = THROUGHPUT_TARGETS[row.scenario as Scenario];
    if (row.world === 'small' && oneProcess && floor !== undefined) {
      out.push({
        name: `${label} throughput`,
        target: `>= ${pct(floor)} of bare`,
        measured: pct(ratios.rps),
        pass: ratios.rps >= floor,
      });
    }
    if (row.world === 'small' && row.scenario === 'check' && oneProcess) {
      out.push({
        name: `${label} CPU per request`,
        target: '<= 1.7x bare',
        measured: times(ratios.cpu),
        pass: ratios.cpu !== null && ratios.cpu <= 1.7,
      });
      out.push({
        name: `${label} p99`,
        target: '<= 2x bare p99',
        measured: times(ratios.p99),
        pass: ratios.p99 <= 2,
      });
    }
    if (row.world === 'small' && row.scenario === 'mixed' && row.database === 'postgres') {
      // The mixed run's requests as clients see them, writes included (each waits for
      // PostgreSQL's answers); the server's own share over 100 ms is logged beside it.
      out.push({
        name: `${label} p99`,
        target: `<= ${MIXED_P99_MS} ms`,
        measured: `${r.latency.p99.toFixed(1)} ms`,
        pass: r.latency.p99 <= MIXED_P99_MS,
      });
    }
    if (row.world === 'small' && row.scenario === 'mixed' && !oneProcess) {
      const one = find(row.build, 'small', 'postgres', 'mixed');
      if (one) {
        const kept = rpsAgainst(row, one, bare);
        out.push({
          name: `${label} vs one replica`,
          target: ">= one replica's req/s",
          measured: `${pct(kept)} of one's (${Math.round(r.rps)} against ${Math.round(one.result.rps)} req/s)`,
          pass: kept >= 1,
        });
      }
    }
    if (row.world === 'scale' && row.scenario === 'check') {
      const small = find(row.build, 'small', row.database, 'check');
      if (small) {
        const kept = rpsAgainst(row, small, bare);
        out.push({
          name: `${label} vs small world`,
          target: '>= 80% of small-world req/s',
          measured: pct(kept),
          pass: kept >= 0.8,
        });
      }
    }
  }
  return out;
}

function tableRows(
  rows: Row[],
  bare: Measured,
  builds: string[],
): { header: string[]; body: string[][] } {
  const several = builds.length > 1;
  const header = [
    'scenario',
    ...(several ? ['build'] : []),
    'world',
    'db',
    'req/s',
    'vs bare',
    'CPU µs/req',
    'CPU/req vs bare',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'p99 vs bare',
    'errors',
    'non-2xx',
    'generator µs/req',
    'bare beside: req/s',
    'bare beside: CPU µs/req',
  ];
  const body = rows.map((row) => {
    const r = row.result;
    const ratios = ratiosOfRow(row, bare);
    const beside = bareOfRow(row, bare);
    return [
      row.scenario === 'bare'
        ? `bare fastify (${r.generator.driver} x${r.generator.threads * r.generator.processes})`
        : row.scenario,
      ...(several ? [row.scenario === 'bare' ? '-' : row.build] : []),
      row.world,
      row.database,
      r.rps.toFixed(0),
      pct(ratios.rps),
      micros(r.cpuMicrosPerRequest),
      times(ratios.cpu),
      ms(r.latency.p50),
      ms(r.latency.p95),
      ms(r.latency.p99),
      times(ratios.p99),
      String(r.errors),
      String(r.non2xx),
      micros(r.generator.cpuMicrosPerRequest),
      row.rounds ? beside.rps.toFixed(0) : '-',
      row.rounds ? micros(beside.cpuMicrosPerRequest) : '-',
    ];
  });
  return { header, body };
}

/**
 * The headline: server CPU per request of each small-world access check against the bare
 * server's, the ratio least moved by other processes on the machine.
 */
function headline(rows: Row[], bare: Measured, builds: string[]): string[] {
  return rows
    .filter((r) => r.world === 'small' && r.scenario === 'check')
    .map(
      (r) =>
        `CPU per access check${builds.length > 1 ? ` (${r.build})` : ''} on ${r.database}: ` +
        `${times(ratiosOfRow(r, bare).cpu)} bare Fastify's, the median of ${r.rounds?.length ?? 1} ` +
        `round(s) (${micros(r.result.cpuMicrosPerRequest)} vs ` +
        `${micros(bareOfRow(r, bare).cpuMicrosPerRequest)} µs over all of them)`,
    );
}

/** What the generator was and whether it could have limited the bare server. */
function generatorNote(driver: Driver, bare: Measured, doubled: Measured | null): string[] {
  const lines: string[] = [];
  if (driver.name === 'autocannon') {
    lines.push(
      'GENERATOR: AUTOCANNON (--driver autocannon), one Node process on the same cores as the ' +
        'server: it saturates before the bare server does, so every ratio to bare is flattered.',
    );
  } else {
    lines.push(
      `Generator: wrk, ${driver.threads} thread(s) per process, one process per server; it used ` +
        `${bare.generator.cpuMicrosPerRequest?.toFixed(0) ?? '-'} µs of CPU per bare request ` +
        `against the bare server's ${bare.cpuMicrosPerRequest?.toFixed(0) ?? '-'} µs.`,
    );
  }
  if (doubled) {
    const gain = doubled.rps / bare.rps - 1;
    lines.push(
      `Doubled generator (${doubled.generator.threads} threads): bare ${doubled.rps.toFixed(0)} req/s ` +
        `against ${bare.rps.toFixed(0)} (${gain >= 0 ? '+' : ''}${(gain * 100).toFixed(0)}%)` +
        (gain > 0.1
          ? ': MORE GENERATOR STILL RAISES BARE, THE GENERATOR IS A LIMIT (ratios flattered)'
          : ': the generator is not the limit.'),
    );
  }
  return lines;
}

/** How the bench was called, with a PostgreSQL URL masked. */
function commandLine(): string {
  return `npm run bench${
    process.argv.length > 2
      ? ` -- ${process.argv
          .slice(2)
          .join(' ')
          .replace(/postgres:\/\/\S+/, '<url>')}`
      : ''
  }`;
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/**
 * Writes the JSON report as bench-results/<name>-<time>.json and <name>-latest.json (bench-,
 * the full run's, is latest.json), and to `extra` if given.
 */
function writeReport(
  name: 'bench' | 'gateway',
  generatedAt: string,
  report: unknown,
  extra: string | undefined,
): void {
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(report, null, 2);
  const file = join(dir, `${name}-${generatedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, json);
  writeFileSync(join(dir, name === 'bench' ? 'latest.json' : `${name}-latest.json`), json);
  if (extra) {
    writeFileSync(extra, json);
  }
  log(`wrote ${file}`);
}

function machine(): Record<string, string | number> {
  const list = cpus();
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
  };
}

function writeMarkdown(
  command: string,
  rows: Row[],
  bare: Measured,
  checks: Verdict[],
  notes: string[],
  builds: string[],
  load: { before: string; after: string },
  opts: Record<string, unknown>,
): void {
  const file = join(ROOT, 'BENCHMARKS.md');
  const begin = '<!-- bench:begin (written by npm run bench; edit outside these markers) -->';
  const end = '<!-- bench:end -->';
  let existing = '';
  try {
    existing = readFileSync(file, 'utf8');
  } catch {
    existing = `# Benchmarks\n\n${begin}\n${end}\n`;
  }
  if (!existing.includes(begin) || !existing.includes(end)) {
    existing = `${existing.trimEnd()}\n\n${begin}\n${end}\n`;
  }
  const m = machine();
  const { header, body } = tableRows(rows, bare, builds);
  const section = [
    begin,
    `## Latest run (${new Date().toISOString()})`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB, ${m.os}, Node ${m.node}, load average ` +
      `${load.before} before the run, ${load.after} after. The load generator shares these cores ` +
      'with the server.',
    '',
    ...notes.map((n) => `- ${n}`),
    '',
    `Settings: ${Object.entries(opts)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ')}.`,
    '',
    markdownTable(header, body),
    '',
    markdownTable(
      ['check', 'target', 'measured', 'result'],
      checks.map((c) => [c.name, c.target, c.measured, c.pass ? 'pass' : '**MISS**']),
    ),
    end,
  ].join('\n');
  const before = existing.slice(0, existing.indexOf(begin));
  const after = existing.slice(existing.indexOf(end) + end.length);
  writeFileSync(file, `${before}${section}${after}`);
  log(`wrote ${file}`);
}

/** `--only gateway`: the gateway scenario on its own, with its targets and its JSON report. */
async function runGatewayScenario(
  duration: number,
  jsonPath: string | undefined,
  gcTrace: string | undefined,
): Promise<number> {
  const startedAt = Date.now();
  const loadBefore = loadAverage();
  log(`load average before the run: ${loadBefore}`);
  const ticksBefore = readCpuTicks();
  const r = await benchGateway({
    duration,
    connections: 100,
    streams: 1000,
    answers: 10_000,
    upstreamDelayMs: GATEWAY_UPSTREAM_DELAY_MS,
    upstreamJitterMs: GATEWAY_UPSTREAM_JITTER_MS,
    gcTrace: gcTrace === undefined ? null : resolve(gcTrace),
  });
  const addedP50 = r.added.gateway.p50.median;
  const addedP99 = r.added.gateway.p99.median;
  const addedTtft = r.ttft.gateway - r.ttft.direct;
  const budgetP50 = r.budget.p50.median;
  const growth = r.answers.rssAfterMb - r.answers.rssBeforeMb;
  const floor = r.added.bare;
  const verdicts: (Verdict & { floor: string })[] = [
    {
      name: 'added p50 (non-streamed, 100 connections)',
      target: '<= 1 ms',
      measured: `${ms(addedP50)} ms`,
      floor: `${ms(floor.p50.median)} ms`,
      pass: addedP50 <= 1,
    },
    {
      name: 'added p99',
      target: '<= 5 ms',
      measured: `${ms(addedP99)} ms`,
      floor: `${ms(floor.p99.median)} ms`,
      pass: addedP99 <= 5,
    },
    {
      name: 'added p50 of a budget reservation (issue 13)',
      target: '<= 1 ms',
      measured: `${ms(budgetP50)} ms`,
      floor: '-',
      pass: budgetP50 <= 1,
    },
    {
      name: 'added time to first streamed byte (p50)',
      target: '<= 2 ms',
      measured: `${ms(addedTtft)} ms`,
      floor: '-',
      pass: addedTtft <= 2,
    },
    {
      name: `RSS with ${r.openStreams.count} open streams`,
      target: '< 300 MB',
      measured: `${r.openStreams.rssMb.toFixed(0)} MB`,
      floor: '-',
      pass: r.openStreams.rssMb < 300,
    },
    {
      name: `RSS growth over ${r.answers.count} streamed 100 KB answers`,
      target: '< 50 MB',
      measured: `${growth.toFixed(1)} MB (${r.answers.rssBeforeMb.toFixed(0)} -> ${r.answers.rssAfterMb.toFixed(0)})`,
      floor: '-',
      pass: growth < 50,
    },
    {
      name: 'ledger rows lost',
      target: '0',
      measured: `${r.ledger.lost} of ${r.ledger.calls} answered calls (${r.ledger.rows} rows)`,
      floor: '-',
      pass: r.ledger.lost === 0,
    },
  ];
  const steal = stealPercent(ticksBefore, readCpuTicks());
  const stolen = stealSentence(steal, 'the gateway scenario');
  process.stdout.write(`${gatewayReport(r)}\n${stolen ? `${stolen}\n` : ''}`);
  process.stdout.write(
    `${textTable(
      ['target', 'goal', 'measured', 'bare proxy (floor)', ''],
      verdicts.map((v) => [v.name, v.target, v.measured, v.floor, v.pass ? 'pass' : 'MISS']),
    )}\n`,
  );
  const report = {
    generated_at: new Date().toISOString(),
    command: commandLine(),
    machine: machine(),
    load_average_before: loadBefore,
    load_average_after: loadAverage(),
    steal_percent: steal,
    result: r,
    checks: verdicts,
    passed: verdicts.every((v) => v.pass),
  };
  writeReport('gateway', report.generated_at, report, jsonPath);
  log(
    `total ${((Date.now() - startedAt) / 1000).toFixed(0)} s; load average after ${report.load_average_after}; targets ${report.passed ? 'met' : 'MISSED'}`,
  );
  return report.passed ? 0 : 1;
}

/** `a (b..c)`: a figure's median over the rounds and its range, in ms. */
function spread(figure: RoundFigure): string {
  return `${ms(figure.median)} (${ms(figure.min)}..${ms(figure.max)})`;
}

/** The gateway scenario's figures: the setting, one line per path, the rest. */
function gatewayReport(r: GatewayBenchResult): string {
  const names: Record<PathName, string> = {
    direct: 'direct',
    bare: 'bare proxy',
    gateway: 'gateway',
    budgeted: 'gateway, budget',
  };
  const rows = PATHS.map((path) => {
    const f = r.paths[path];
    const a = path === 'direct' ? null : r.added[path];
    return [
      names[path],
      f.calls.toLocaleString('en-US'),
      f.rps.toFixed(0),
      ms(f.p50),
      ms(f.p99),
      a ? spread(a.p50) : '-',
      a ? spread(a.p99) : '-',
      a ? spread(a.mean) : '-',
      f.cpuUsPerCall === null ? '-' : f.cpuUsPerCall.toFixed(0),
    ];
  });
  const inconsistent = PATHS.flatMap((path) => {
    const inFlight = impossibleInFlight(r.paths[path].rps, r.paths[path].mean, r.connections);
    return inFlight === null
      ? []
      : [
          `${names[path]}: client latencies not self-consistent (throughput x mean latency = ${inFlight.toFixed(0)} in flight for ${r.connections} connections: its percentiles are not elapsed times)`,
        ];
  });
  const s = r.saturation;
  return [
    `gateway scenario: the stand-in answers after ${r.upstreamDelayMs} ± ${r.upstreamJitterMs} ms ` +
      `(uniform; every run draws the same delays), ${r.connections} connections, ` +
      `each path warmed ${r.warmupSaturatedSeconds} s at saturation and 2 s as measured, ` +
      `${r.rounds} interleaved rounds of ${r.secondsPerRun} s per path, wrk -t${r.wrkThreads}`,
    r.latencyFigures === 'measured'
      ? "latencies as recorded (wrk's coordinated-omission samples taken out)"
      : "SOME LATENCIES ARE WRK'S, CORRECTED FOR COORDINATED OMISSION (its histogram could not be read)",
    `CPUs: ${r.cpus.note}`,
    'added = over direct, per round: median of the rounds (lowest..highest round); ' +
      "added mean = mean latency minus the stand-in's own hold time, per call, over direct's; " +
      "CPU per call = the path's own process (bare proxy or service), from /proc",
    textTable(
      [
        'path',
        'calls',
        'req/s',
        'p50 ms',
        'p99 ms',
        'added p50 ms',
        'added p99 ms',
        'added mean ms',
        'CPU µs/call',
      ],
      rows,
    ),
    `budget reservation (with a budget over without, per round): p50 ${spread(r.budget.p50)} ms, ` +
      `p99 ${spread(r.budget.p99)} ms, mean ${spread(r.budget.mean)} ms`,
    ...inconsistent,
    ...(r.served
      ? [`the service during the measured rounds, by its own /metrics: ${r.served}`]
      : []),
    `first streamed byte direct ${ms(r.ttft.direct)} ms, gateway ${ms(r.ttft.gateway)} ms`,
    `streamed 100 KB answers: the ${r.answers.warmup} before the measured ones took the ` +
      `service's RSS from ${r.answers.rssColdMb.toFixed(0)} to ${r.answers.rssBeforeMb.toFixed(0)} MB ` +
      `(the path's working memory, set up once; not a target)`,
    `most calls per second (immediate stand-in, ${r.connections} connections, not a target): ` +
      `direct ${s.direct.toFixed(0)} req/s, bare proxy ${s.bare.toFixed(0)} req/s at ` +
      `${s.bareCpuUsPerCall.toFixed(0)} µs CPU per call, gateway ${s.gateway.toFixed(0)} req/s ` +
      `at ${s.cpuUsPerCall.toFixed(0)} µs of service CPU per call; service RSS at the end ` +
      `${r.finalRssMb.toFixed(0)} MB`,
    ...(r.gcTrace
      ? [
          `the service's garbage collection trace (${r.gcTrace.file}): ${r.gcTrace.rounds}; ${r.gcTrace.saturation}`,
        ]
      : []),
  ].join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(ARGS, process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const driverName = stringArg(args, 'driver') ?? 'wrk';
  if (driverName !== 'wrk' && driverName !== 'autocannon') {
    throw new Error(`--driver must be wrk or autocannon (got "${driverName}")`);
  }
  const driver: Driver = {
    name: driverName,
    threads: driverName === 'wrk' ? Math.max(1, Math.floor(numberArg(args, 'threads', 1))) : 1,
  };
  if (driver.name === 'wrk') {
    requireWrk();
  } else {
    log(
      'GENERATOR: AUTOCANNON (--driver autocannon): one Node process sharing the cores with the ' +
        'server; it saturates first, so every ratio to the bare server is flattered.',
    );
  }
  const builds = (stringArg(args, 'service') ?? '.').split(',').map((b) => b.trim() || '.');
  for (const build of builds) {
    const main = join(build === '.' ? ROOT : resolve(build), 'dist', 'src', 'main.js');
    if (!existsSync(main)) {
      throw new Error(`--service ${build}: ${main} does not exist (build it with npm run build)`);
    }
  }
  const cpuProf = stringArg(args, 'cpu-prof');
  const opts = {
    duration: secondsArg(args, 'duration', 10),
    warmup: secondsArg(args, 'warmup', 2),
    connections: numberArg(args, 'connections', 300),
    writeRatio: numberArg(args, 'write-ratio', 0.03),
    rounds: numberArg(args, 'rounds', 5),
    driver,
    cpuProf,
  };
  if (!Number.isInteger(opts.rounds) || opts.rounds < 1) {
    throw new Error(`--rounds must be a whole number of at least 1 (got ${opts.rounds})`);
  }
  const only = stringArg(args, 'only');
  const gcTrace = stringArg(args, 'gc-trace');
  if (gcTrace !== undefined && only !== 'gateway') {
    throw new Error('--gc-trace traces the gateway scenario: use it with --only gateway');
  }
  if (only === 'gateway') {
    return runGatewayScenario(opts.duration, stringArg(args, 'json'), gcTrace);
  }
  const scenarios = only
    ? only.split(',').map((s) => {
        if (!(SCENARIOS as readonly string[]).includes(s)) {
          throw new Error(`unknown scenario "${s}" (expected ${SCENARIOS.join(', ')})`);
        }
        return s as Scenario;
      })
    : [...SCENARIOS];
  const postgres = stringArg(args, 'postgres');
  const startedAt = Date.now();
  const loadBefore = loadAverage();
  log(`load average before the run: ${loadBefore}`);
  const ticksBefore = readCpuTicks();
  Logger.overrideLogger(['error']);
  const small = buildWorld(SMALL_WORLD);
  const rows: Row[] = [];

  // The bare server, driven with the generator of the service runs, then with twice as many
  // generator threads: if that raised its figure, the generator would be the limit. It then
  // runs beside every scenario (a bare run before each round of the service's).
  const bareServer = await startBareServer(
    cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resolve(cpuProf)}`] : [],
  );
  let bare: Measured;
  let doubled: Measured | null = null;
  try {
    const traffic = new Traffic(small);
    const load: LoadOptions = {
      url: bareServer.url,
      connections: opts.connections,
      durationSeconds: opts.duration,
      next: () => traffic.check(),
      serverPid: bareServer.pid,
    };
    if (opts.warmup > 0) {
      await drive(driver, { ...load, durationSeconds: opts.warmup });
    }
    bare = await drive(driver, load);
    log(`bare fastify (${driver.threads} generator thread(s)): ${summary(bare, opts.connections)}`);
    // While twice the generator threads raise bare's figure by more than 10%, the generator
    // is a limit: the runs then use the doubled generator (up to 4 threads per process; on a
    // machine shared with other jobs more threads only win CPU from those jobs).
    while (driver.name === 'wrk') {
      doubled = await drive(driver, load, driver.threads * 2);
      log(
        `bare fastify (${driver.threads * 2} generator threads): ${summary(doubled, opts.connections)}`,
      );
      if (doubled.rps <= bare.rps * 1.1 || driver.threads * 2 > 4) {
        break;
      }
      log(`the generator limited bare: the runs use ${driver.threads * 2} wrk threads`);
      driver.threads *= 2;
      bare = doubled;
    }
    rows.push({ world: 'small', database: '-', scenario: 'bare', build: '-', result: bare });

    const withBare = { ...opts, bare: bareServer };
    const databases: ('sqlite' | 'postgres')[] = postgres ? ['sqlite', 'postgres'] : ['sqlite'];
    for (const database of databases) {
      for (const build of builds) {
        rows.push(
          ...(await runWorld(small, 'small', database, postgres, scenarios, {
            ...withBare,
            build,
          })),
        );
      }
      if (args.scale) {
        const large = buildWorld(SCALE_WORLD);
        for (const build of builds) {
          rows.push(
            ...(await runWorld(large, 'scale', database, postgres, scenarios, {
              ...withBare,
              build,
            })),
          );
        }
      }
    }
    const replicas = numberArg(args, 'replicas', 2);
    const replicaScenarios = scenarios.filter((s) => s === 'check' || s === 'mixed');
    if (postgres && replicas > 1 && replicaScenarios.length > 0) {
      for (const build of builds) {
        rows.push(
          ...(await runWorld(small, 'small', 'postgres', postgres, replicaScenarios, {
            ...withBare,
            build,
            replicas,
          })),
        );
      }
    }
  } finally {
    await bareServer.stop();
  }

  const checks = verdicts(
    rows.filter((r) => r.scenario !== 'bare'),
    bare,
    builds,
  );
  const steal = stealPercent(ticksBefore, readCpuTicks());
  const stolen = stealSentence(steal);
  const notes = [
    ...generatorNote(driver, bare, doubled),
    ...(stolen ? [stolen] : []),
    ...headline(rows, bare, builds),
  ];
  const { header, body } = tableRows(rows, bare, builds);
  process.stdout.write(`\n${notes.join('\n')}\n\n${textTable(header, body)}\n\n`);
  process.stdout.write(
    `${textTable(
      ['check', 'target', 'measured', 'result'],
      checks.map((c) => [c.name, c.target, c.measured, c.pass ? 'pass' : 'MISS']),
    )}\n\n`,
  );
  const command = commandLine();
  const report = {
    generated_at: new Date().toISOString(),
    command,
    machine: machine(),
    load_average_before: loadBefore,
    load_average_after: loadAverage(),
    steal_percent: steal,
    settings: { ...opts, builds, scenarios },
    notes,
    total_seconds: (Date.now() - startedAt) / 1000,
    bare_doubled_generator: doubled,
    results: rows.map((r) => {
      const ratios = ratiosOfRow(r, bare);
      return {
        scenario: r.scenario,
        build: r.build,
        world: r.world,
        database: r.database,
        ...r.result,
        ratio_to_bare: ratios.rps,
        cpu_ratio_to_bare: ratios.cpu,
        p99_ratio_to_bare: ratios.p99,
        bare_beside: r.rounds ? bareOfRow(r, bare) : undefined,
        steal_percent: r.steal,
        rounds: r.rounds,
      };
    }),
    checks,
    passed: checks.every((c) => c.pass),
  };
  writeReport('bench', report.generated_at, report, stringArg(args, 'json'));
  if (!args['no-markdown']) {
    writeMarkdown(
      command,
      rows,
      bare,
      checks,
      notes,
      builds,
      { before: loadBefore, after: report.load_average_after },
      {
        duration_s: opts.duration,
        warmup_s: opts.warmup,
        rounds: opts.rounds,
        connections: opts.connections,
        write_ratio: opts.writeRatio,
        generator: `${driver.name}${driver.name === 'wrk' ? ` -t${driver.threads}` : ''}`,
      },
    );
  }
  log(
    `total ${report.total_seconds.toFixed(0)} s; load average after ${report.load_average_after}; targets ${report.passed ? 'met' : 'MISSED'}`,
  );
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(2);
  },
);
