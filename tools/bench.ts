/**
 * `npm run bench`: seeds a world, starts the built service and a bare Fastify server,
 * drives both with autocannon and reports throughput and latency side by side.
 * Run `npm run bench -- --help` for the options.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { signWebUiToken } from '../src/auth/jwt';
import { ArgsSpec, numberArg, parseArgs, secondsArg, stringArg } from './lib/args';
import { benchGateway } from './lib/perf-gateway';
import { LoadRequest, LoadResult, runLoad } from './lib/perf-load';
import {
  ChildServer,
  createPostgresDatabase,
  ROOT,
  startBareServer,
  startService,
} from './lib/perf-process';
import { markdownTable, ms, pct, textTable } from './lib/perf-stats';
import { buildWorld, SCALE_WORLD, seedWorld, SMALL_WORLD, World } from './lib/perf-world';
import { prng } from './lib/prng';

const HELP = `Usage: npm run bench -- [options]

Seeds a fresh database (10,000 users, 100 organizations, 500 models by default), starts the
built service (node dist/src/main.js) and a bare Fastify server, drives each with autocannon,
and reports requests/s, latency p50/p95/p99, errors and the ratio to the bare server.
Writes bench-results/bench-<time>.json, bench-results/latest.json and the results section of
BENCHMARKS.md.

Options:
  --duration <s>        measured seconds per scenario (default 10)
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
                        directly and through /v1 with wrk at 100 connections, answering after
                        100 ms as a model would (added p50/p99, and what a budget reservation
                        adds), the most calls per second of each path, time to first streamed
                        byte, RSS with 1,000 open streams and over 10,000 streamed 100 KB
                        answers, and ledger rows lost
  --service <dir>       start <dir>/dist/src/main.js instead of this checkout's (to compare builds)
  --no-markdown         do not rewrite BENCHMARKS.md
  --json <file>         also write the JSON report there
  --help                this text

Targets (same run, same machine): access check >= 40% of bare req/s, p99 <= 2x bare p99,
zero errors and non-2xx; user model listing >= 25% of bare req/s; mixed run with writes:
zero errors and non-2xx; --scale: access check keeps >= 80% of its small-world req/s.`;

/** How long the gateway scenario's stand-in takes to answer a non-streamed call (see perf-gateway). */
const GATEWAY_UPSTREAM_DELAY_MS = 100;

const ARGS: ArgsSpec = {
  options: [
    { name: 'duration', type: 'string' },
    { name: 'warmup', type: 'string' },
    { name: 'connections', type: 'string' },
    { name: 'write-ratio', type: 'string' },
    { name: 'scale', type: 'boolean' },
    { name: 'postgres', type: 'string' },
    { name: 'replicas', type: 'string' },
    { name: 'only', type: 'string' },
    { name: 'service', type: 'string' },
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
  result: LoadResult;
  seedSeconds?: number;
}

interface Verdict {
  name: string;
  target: string;
  measured: string;
  pass: boolean;
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
    serviceRoot: string;
    replicas?: number;
  },
): Promise<Row[]> {
  const replicas = opts.replicas ?? 1;
  const label = replicas > 1 ? `${database} x${replicas}` : database;
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
        Array.from({ length: replicas }, () => startService(env, opts.serviceRoot)),
      )),
    );
    for (const service of services) {
      log(`service pid ${service.pid} at ${service.url}`);
    }
    const urls = services.map((s) => s.url);
    const pids = services.map((s) => s.pid);
    const traffic = new Traffic(world);
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
        await runLoad({
          url: urls,
          connections: opts.connections,
          durationSeconds: opts.warmup,
          next: generator,
        });
      }
      const result = await runLoad({
        url: urls,
        connections: opts.connections,
        durationSeconds: opts.duration,
        next: generator,
        serverPid: pids,
      });
      log(
        `${worldName}/${label}/${scenario}: ${result.rps.toFixed(0)} req/s, p99 ${ms(result.latency.p99)} ms, errors ${result.errors}${result.errors > 0 ? ` ${JSON.stringify(result.errorKinds)}` : ''}, non-2xx ${result.non2xx}, ${result.cpuMicrosPerRequest?.toFixed(0) ?? '-'} µs CPU/req`,
      );
      rows.push({ world: worldName, database: label, scenario, result, seedSeconds });
    }
    for (const service of services) {
      const slow = await serverSideSlowRequests(service.url);
      if (slow !== null) {
        log(
          `server side (${worldName}/${label}, pid ${service.pid}): ${slow} requests took over 5 s (from /metrics)`,
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
 * Requests the service itself measured at over 5 s (http_request_duration_seconds, when
 * /metrics exists): tells a stall in the server from one in the load generator.
 */
async function serverSideSlowRequests(url: string): Promise<number | null> {
  try {
    const res = await fetch(`${url}/metrics`);
    if (!res.ok) {
      return null;
    }
    let total = 0;
    let fast = 0;
    for (const line of (await res.text()).split('\n')) {
      if (!line.startsWith('http_request_duration_seconds_bucket{')) {
        continue;
      }
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.includes('le="+Inf"')) {
        total += value;
      } else if (line.includes('le="5"')) {
        fast += value;
      }
    }
    return total - fast;
  } catch {
    return null;
  }
}

function verdicts(rows: Row[], bare: LoadResult): Verdict[] {
  const out: Verdict[] = [];
  const find = (world: string, database: string, scenario: string): Row | undefined =>
    rows.find((r) => r.world === world && r.database === database && r.scenario === scenario);
  for (const row of rows) {
    const r = row.result;
    const label = `${row.world}/${row.database}/${row.scenario}`;
    out.push({
      name: `${label} errors`,
      target: '0 errors, 0 non-2xx',
      measured: `${r.errors} errors (${r.timeouts} timeouts), ${r.non2xx} non-2xx`,
      pass: r.errors === 0 && r.non2xx === 0,
    });
    const oneProcess = !row.database.includes(' x');
    if (row.world === 'small' && row.scenario === 'check' && oneProcess) {
      out.push({
        name: `${label} throughput`,
        target: '>= 40% of bare',
        measured: pct(r.rps / bare.rps),
        pass: r.rps >= 0.4 * bare.rps,
      });
      out.push({
        name: `${label} p99`,
        target: '<= 2x bare p99',
        measured: `${(r.latency.p99 / bare.latency.p99).toFixed(2)}x`,
        pass: r.latency.p99 <= 2 * bare.latency.p99,
      });
    }
    if (row.world === 'small' && row.scenario === 'user-models' && oneProcess) {
      out.push({
        name: `${label} throughput`,
        target: '>= 25% of bare',
        measured: pct(r.rps / bare.rps),
        pass: r.rps >= 0.25 * bare.rps,
      });
    }
    if (row.world === 'scale' && row.scenario === 'check') {
      const small = find('small', row.database, 'check');
      if (small) {
        out.push({
          name: `${label} vs small world`,
          target: '>= 80% of small-world req/s',
          measured: pct(r.rps / small.result.rps),
          pass: r.rps >= 0.8 * small.result.rps,
        });
      }
    }
  }
  return out;
}

function tableRows(rows: Row[], bare: LoadResult): { header: string[]; body: string[][] } {
  const header = [
    'scenario',
    'world',
    'db',
    'req/s',
    'vs bare',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'p99 vs bare',
    'errors',
    'non-2xx',
    'server CPU µs/req',
  ];
  const body = [
    ...rows.map((row) => {
      const r = row.result;
      return [
        row.scenario === 'bare' ? 'bare fastify (fixed JSON)' : row.scenario,
        row.world,
        row.database,
        r.rps.toFixed(0),
        pct(r.rps / bare.rps),
        ms(r.latency.p50),
        ms(r.latency.p95),
        ms(r.latency.p99),
        `${(r.latency.p99 / bare.latency.p99).toFixed(2)}x`,
        String(r.errors),
        String(r.non2xx),
        r.cpuMicrosPerRequest === null ? '-' : r.cpuMicrosPerRequest.toFixed(0),
      ];
    }),
  ];
  return { header, body };
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
  bare: LoadResult,
  checks: Verdict[],
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
  const { header, body } = tableRows(rows, bare);
  const section = [
    begin,
    `## Latest run (${new Date().toISOString()})`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB, ${m.os}, Node ${m.node}. The load generator`,
    '(autocannon, one process) shares these cores with the server under test.',
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

/** `--only gateway`: the gateway scenario on its own, with its targets. */
async function runGatewayScenario(duration: number): Promise<number> {
  const r = await benchGateway({
    duration,
    connections: 100,
    streams: 1000,
    answers: 10_000,
    upstreamDelayMs: GATEWAY_UPSTREAM_DELAY_MS,
  });
  const addedP50 = r.gateway.p50 - r.direct.p50;
  const addedP99 = r.gateway.p99 - r.direct.p99;
  const addedTtft = r.ttft.gateway - r.ttft.direct;
  const budgetP50 = r.budgeted.p50 - r.gateway.p50;
  const growth = r.answers.rssAfterMb - r.answers.rssBeforeMb;
  const verdicts: Verdict[] = [
    {
      name: 'added p50 (non-streamed, 100 connections)',
      target: '<= 1 ms',
      measured: `${addedP50.toFixed(2)} ms`,
      pass: addedP50 <= 1,
    },
    {
      name: 'added p99',
      target: '<= 5 ms',
      measured: `${addedP99.toFixed(2)} ms`,
      pass: addedP99 <= 5,
    },
    {
      name: 'added p50 of a budget reservation (issue 13)',
      target: '<= 1 ms',
      measured: `${budgetP50.toFixed(2)} ms`,
      pass: budgetP50 <= 1,
    },
    {
      name: 'added time to first streamed byte (p50)',
      target: '<= 2 ms',
      measured: `${addedTtft.toFixed(2)} ms`,
      pass: addedTtft <= 2,
    },
    {
      name: `RSS with ${r.openStreams.count} open streams`,
      target: '< 300 MB',
      measured: `${r.openStreams.rssMb.toFixed(0)} MB`,
      pass: r.openStreams.rssMb < 300,
    },
    {
      name: `RSS growth over ${r.answers.count} streamed 100 KB answers`,
      target: '< 50 MB',
      measured: `${growth.toFixed(1)} MB (${r.answers.rssBeforeMb.toFixed(0)} -> ${r.answers.rssAfterMb.toFixed(0)})`,
      pass: growth < 50,
    },
    {
      name: 'ledger rows lost',
      target: '0',
      measured: `${r.ledger.lost} of ${r.ledger.calls} answered calls (${r.ledger.rows} rows)`,
      pass: r.ledger.lost === 0,
    },
  ];
  const path = (name: string, f: { p50: number; p99: number; rps: number }) =>
    `${name} p50 ${f.p50.toFixed(2)} ms p99 ${f.p99.toFixed(2)} ms ${f.rps.toFixed(0)} req/s`;
  process.stdout.write(
    `gateway scenario (stand-in answers after ${r.upstreamDelayMs} ms, 100 connections): ` +
      `${path('direct', r.direct)}; ${path('through the gateway', r.gateway)}; ` +
      `${path('with a budget', r.budgeted)}\n` +
      `first streamed byte direct ${r.ttft.direct.toFixed(2)} ms, gateway ${r.ttft.gateway.toFixed(2)} ms\n` +
      `most calls per second (immediate stand-in, 100 connections, not a target): direct ${r.saturation.direct.toFixed(0)} req/s, ` +
      `gateway ${r.saturation.gateway.toFixed(0)} req/s at ${r.saturation.cpuUsPerCall.toFixed(0)} us of service CPU per call; service RSS at the end ${r.finalRssMb.toFixed(0)} MB\n`,
  );
  process.stdout.write(
    `${textTable(
      ['target', 'goal', 'measured', ''],
      verdicts.map((v) => [v.name, v.target, v.measured, v.pass ? 'pass' : 'MISS']),
    )}\n`,
  );
  return verdicts.every((v) => v.pass) ? 0 : 1;
}

async function main(): Promise<number> {
  const args = parseArgs(ARGS, process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const opts = {
    duration: secondsArg(args, 'duration', 10),
    warmup: secondsArg(args, 'warmup', 2),
    connections: numberArg(args, 'connections', 300),
    writeRatio: numberArg(args, 'write-ratio', 0.03),
    serviceRoot: stringArg(args, 'service') ?? ROOT,
  };
  const only = stringArg(args, 'only');
  if (only === 'gateway') {
    return runGatewayScenario(opts.duration);
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
  Logger.overrideLogger(['error']);
  const small = buildWorld(SMALL_WORLD);
  const rows: Row[] = [];

  const bareServer = await startBareServer();
  let bare: LoadResult;
  try {
    const traffic = new Traffic(small);
    const generator = (): LoadRequest => traffic.check();
    if (opts.warmup > 0) {
      await runLoad({
        url: bareServer.url,
        connections: opts.connections,
        durationSeconds: opts.warmup,
        next: generator,
      });
    }
    bare = await runLoad({
      url: bareServer.url,
      connections: opts.connections,
      durationSeconds: opts.duration,
      next: generator,
      serverPid: bareServer.pid,
    });
    log(`bare fastify: ${bare.rps.toFixed(0)} req/s, p99 ${ms(bare.latency.p99)} ms`);
  } finally {
    await bareServer.stop();
  }
  rows.push({ world: 'small', database: '-', scenario: 'bare', result: bare });

  const databases: ('sqlite' | 'postgres')[] = postgres ? ['sqlite', 'postgres'] : ['sqlite'];
  for (const database of databases) {
    rows.push(...(await runWorld(small, 'small', database, postgres, scenarios, opts)));
    if (args.scale) {
      const large = buildWorld(SCALE_WORLD);
      rows.push(...(await runWorld(large, 'scale', database, postgres, scenarios, opts)));
    }
  }
  const replicas = numberArg(args, 'replicas', 2);
  const replicaScenarios = scenarios.filter((s) => s === 'check' || s === 'mixed');
  if (postgres && replicas > 1 && replicaScenarios.length > 0) {
    rows.push(
      ...(await runWorld(small, 'small', 'postgres', postgres, replicaScenarios, {
        ...opts,
        replicas,
      })),
    );
  }

  const checks = verdicts(
    rows.filter((r) => r.scenario !== 'bare'),
    bare,
  );
  const { header, body } = tableRows(rows, bare);
  process.stdout.write(`\n${textTable(header, body)}\n\n`);
  process.stdout.write(
    `${textTable(
      ['check', 'target', 'measured', 'result'],
      checks.map((c) => [c.name, c.target, c.measured, c.pass ? 'pass' : 'MISS']),
    )}\n\n`,
  );
  const command = `npm run bench${
    process.argv.length > 2
      ? ` -- ${process.argv
          .slice(2)
          .join(' ')
          .replace(/postgres:\/\/\S+/, '<url>')}`
      : ''
  }`;
  const report = {
    generated_at: new Date().toISOString(),
    command,
    machine: machine(),
    settings: { ...opts, scenarios },
    total_seconds: (Date.now() - startedAt) / 1000,
    results: rows.map((r) => ({
      scenario: r.scenario,
      world: r.world,
      database: r.database,
      ...r.result,
      ratio_to_bare: r.result.rps / bare.rps,
      p99_ratio_to_bare: r.result.latency.p99 / bare.latency.p99,
    })),
    checks,
    passed: checks.every((c) => c.pass),
  };
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(report, null, 2);
  const file = join(dir, `bench-${report.generated_at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, json);
  writeFileSync(join(dir, 'latest.json'), json);
  const extra = stringArg(args, 'json');
  if (extra) {
    writeFileSync(extra, json);
  }
  log(`wrote ${file}`);
  if (!args['no-markdown']) {
    writeMarkdown(command, rows, bare, checks, {
      duration_s: opts.duration,
      warmup_s: opts.warmup,
      connections: opts.connections,
      write_ratio: opts.writeRatio,
    });
  }
  log(`total ${report.total_seconds.toFixed(0)} s; targets ${report.passed ? 'met' : 'MISSED'}`);
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(2);
  },
);
