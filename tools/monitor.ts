/**
 * `npm run monitor -- report|continuous|benchmark`: hot query timings and plans against the
 * configured database, a line per interval from a running service, or concurrent access
 * checks against it. Run with --help for the options and the grade thresholds.
 */
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { loadEnvFile } from '../src/config/env-file';
import { loadConfig } from '../src/config/load-config';
import { TABLES } from '../src/health/database-diagnostics.service';
import { createDataSource } from '../src/database/data-source';
import { HOT_QUERIES, hotSql } from '../src/model-access/hot-queries';
import { ArgsSpec, numberArg, ParsedArgs, parseArgs, secondsArg, stringArg } from './lib/args';
import { loadAutocannon, runLoad } from './lib/perf-load';
import { explainHotQuery, PlanReport } from './lib/perf-plans';
import { LatencySamples, LatencySummary, ms, textTable } from './lib/perf-stats';

const HELP = `Usage: npm run monitor -- <command> [options]

Commands:
  report       Times each hot query (the SQL of src/model-access/hot-queries.ts) against the
               database of DATABASE_URL, reads whether it uses its index from the database's
               own plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN (FORMAT JSON) on PostgreSQL),
               counts rows, and grades the whole.
                 --runs <n>       executions per query (default 200)
                 --json           print the report as JSON
  continuous   One line per interval from a running service: request rate and latency
               p50/p95/p99 from /metrics (http_request_duration_seconds) when it exists,
               otherwise the time of GET /health; with --database, the hot query p95 instead.
                 --url <base>     service (default http://127.0.0.1:8080)
                 --interval <s>   seconds between lines (default 5)
                 --count <n>      stop after n lines (default: run until Ctrl-C)
                 --metrics-token <t>  bearer token for /metrics (METRICS_TOKEN)
                 --database       sample the hot queries of DATABASE_URL instead
  benchmark    Concurrent access checks against a running service (autocannon), with users
               and models discovered through the API.
                 --url <base>  --api-key <key> (or ADMIN_API_KEYS' first key)
                 --connections <n> (default 100)  --duration <s> (default 10)

Grade of "report" (p95 is the 95th percentile of one query's executions):
  A+  every hot query uses its index and the slowest p95 < 1 ms
  A   every hot query uses its index and the slowest p95 < 5 ms
  B   every hot query uses its index and the slowest p95 < 20 ms
  C   otherwise: a hot query scans its table, or a p95 is 20 ms or more
On PostgreSQL small tables are often scanned on purpose (a sequential scan is cheaper than an
index below a few pages); the report then also asks the planner with enable_seqscan = off
and counts the query as indexed when an index CAN serve it, marking it "index (forced)".

Environment: DATABASE_URL (report, continuous --database), ADMIN_API_KEYS (benchmark).`;

/** One table for all commands; each reads only its own options. */
const ARGS: ArgsSpec = {
  positional: 'command',
  options: [
    { name: 'runs', type: 'string' },
    { name: 'json', type: 'boolean' },
    { name: 'url', type: 'string' },
    { name: 'interval', type: 'string' },
    { name: 'count', type: 'string' },
    { name: 'metrics-token', type: 'string' },
    { name: 'database', type: 'boolean' },
    { name: 'api-key', type: 'string' },
    { name: 'connections', type: 'string' },
    { name: 'duration', type: 'string' },
  ],
};

interface QueryFigures {
  name: string;
  table: string;
  latency: LatencySummary;
  plan: PlanReport;
  forced: boolean;
}

function grade(figures: QueryFigures[]): string {
  const indexed = figures.every((f) => f.plan.usesIndex);
  const worst = Math.max(...figures.map((f) => f.latency.p95));
  if (!indexed || worst >= 20) {
    return 'C';
  }
  return worst < 1 ? 'A+' : worst < 5 ? 'A' : 'B';
}

async function openDatabase(): Promise<{ ds: DataSource; kind: 'sqlite' | 'postgres' }> {
  Logger.overrideLogger(['error']);
  loadEnvFile(); // the server's database, chosen exactly as the server chooses it
  const config = loadConfig(process.env);
  const ds = createDataSource(config);
  await ds.initialize();
  // Read-only tool: it never creates tables. A database the service has not migrated yet
  // gets a clear message instead of "no such table".
  const tables = (await ds.query(
    config.databaseKind === 'postgres'
      ? "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'organization_members'"
      : "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'organization_members'",
  )) as unknown[];
  if (tables.length === 0) {
    await ds.destroy();
    throw new Error(
      `${config.databaseKind === 'postgres' ? 'the PostgreSQL database' : `the SQLite file ${config.sqlitePath}`} of DATABASE_URL has no schema yet: start the service once on it (it applies the migrations at boot), then run the report`,
    );
  }
  return { ds, kind: config.databaseKind };
}

/** Real ids to query with, so timings include finding rows (first rows of each table). */
async function sampleIds(ds: DataSource): Promise<{ user: string[]; org: string[] }> {
  const ids = async (sql: string): Promise<string[]> =>
    ((await ds.query(sql)) as { id: string }[]).map((r) => String(r.id));
  const user = await ids('SELECT id FROM users ORDER BY id LIMIT 50');
  const org = await ids('SELECT id FROM organizations ORDER BY id LIMIT 50');
  return {
    user: user.length ? user : ['none'],
    org: org.length ? org : ['none'],
  };
}

async function timeQueries(
  ds: DataSource,
  kind: 'sqlite' | 'postgres',
  runs: number,
): Promise<Map<string, LatencySummary>> {
  const ids = await sampleIds(ds);
  const out = new Map<string, LatencySummary>();
  for (const query of HOT_QUERIES) {
    const samples = new LatencySamples();
    for (let i = 0; i < runs; i++) {
      let params: string[];
      if (query.name === 'grants_by_organization_id_in') {
        params = [0, 1, 2].map((k) => ids.org[(i + k) % ids.org.length]);
      } else {
        params = [ids.user[i % ids.user.length]];
      }
      const started = process.hrtime.bigint();
      await ds.query(hotSql(query, kind, params.length), params);
      samples.add(Number(process.hrtime.bigint() - started) / 1e6);
    }
    out.set(query.name, samples.summary());
  }
  return out;
}

async function report(args: ParsedArgs): Promise<number> {
  const { ds, kind } = await openDatabase();
  try {
    const runs = numberArg(args, 'runs', 200);
    const timings = await timeQueries(ds, kind, runs);
    const figures: QueryFigures[] = [];
    for (const query of HOT_QUERIES) {
      let plan = await explainHotQuery(ds, query);
      let forced = false;
      if (!plan.usesIndex && kind === 'postgres') {
        const forcedPlan = await explainHotQuery(ds, query, { forceIndexes: true });
        if (forcedPlan.usesIndex) {
          plan = forcedPlan;
          forced = true;
        }
      }
      figures.push({
        name: query.name,
        table: query.table,
        latency: timings.get(query.name)!,
        plan,
        forced,
      });
    }
    const counts: Record<string, number> = {};
    for (const table of TABLES) {
      const [row] = (await ds.query(`SELECT COUNT(*) AS n FROM ${table}`)) as {
        n: string | number;
      }[];
      counts[table] = Number(row.n);
    }
    const result = { database: kind, runs, grade: grade(figures), counts, queries: figures };
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      process.stdout.write(`Hot queries on ${kind} (${runs} runs each)\n\n`);
      process.stdout.write(
        `${textTable(
          ['query', 'table', 'p50 ms', 'p95 ms', 'p99 ms', 'index', 'plan'],
          figures.map((f) => [
            f.name,
            f.table,
            ms(f.latency.p50),
            ms(f.latency.p95),
            ms(f.latency.p99),
            f.plan.usesIndex
              ? `${f.plan.indexes.join(',')}${f.forced ? ' (forced)' : ''}`
              : 'NO (scan)',
            f.plan.plan.slice(0, 90),
          ]),
        )}\n\n`,
      );
      process.stdout.write(
        `Rows: ${Object.entries(counts)
          .map(([t, n]) => `${t} ${n}`)
          .join(', ')}\n\nGrade: ${result.grade} (thresholds in --help)\n`,
      );
    }
    return result.grade === 'C' ? 1 : 0;
  } finally {
    await ds.destroy();
  }
}

/** Sum of histogram buckets from Prometheus text, by `le`, for one metric. */
function histogram(text: string, metric: string): { buckets: Map<number, number>; count: number } {
  const buckets = new Map<number, number>();
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${metric}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (le !== undefined) {
        const bound = le === '+Inf' ? Infinity : Number(le);
        buckets.set(bound, (buckets.get(bound) ?? 0) + value);
      }
    } else if (line.startsWith(`${metric}_count`)) {
      count += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return { buckets, count };
}

/** A percentile from the difference of two cumulative histograms (upper bucket bound). */
function histogramPercentile(
  now: Map<number, number>,
  before: Map<number, number>,
  p: number,
): number {
  const bounds = [...now.keys()].sort((a, b) => a - b);
  const total = (now.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) {
    return 0;
  }
  for (const bound of bounds) {
    if ((now.get(bound) ?? 0) - (before.get(bound) ?? 0) >= (p / 100) * total) {
      return bound * 1000;
    }
  }
  return Infinity;
}

async function continuous(args: ParsedArgs): Promise<number> {
  const base = (stringArg(args, 'url') ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const interval = secondsArg(args, 'interval', 5);
  const count = numberArg(args, 'count', 0);
  const token = stringArg(args, 'metrics-token');
  const metric = 'http_request_duration_seconds';
  let previous: { buckets: Map<number, number>; count: number } | null = null;
  const db = args.database ? await openDatabase() : null;
  try {
    for (let line = 0; count === 0 || line < count; line++) {
      const stamp = new Date().toISOString();
      if (db) {
        const timings = await timeQueries(db.ds, db.kind, 20);
        const worst = Math.max(...[...timings.values()].map((t) => t.p95));
        process.stdout.write(
          `${stamp} db=${db.kind} ${[...timings].map(([n, t]) => `${n}_p95=${ms(t.p95)}ms`).join(' ')} worst_p95=${ms(worst)}ms\n`,
        );
      } else {
        let text: string | null = null;
        try {
          const res = await fetch(`${base}/metrics`, {
            headers: token ? { authorization: `Bearer ${token}` } : {},
          });
          text = res.ok ? await res.text() : null;
        } catch {
          text = null;
        }
        const now = text ? histogram(text, metric) : null;
        if (now && now.buckets.size > 0) {
          if (previous) {
            const requests = now.count - previous.count;
            process.stdout.write(
              `${stamp} rate=${(requests / interval).toFixed(1)}/s p50=${ms(histogramPercentile(now.buckets, previous.buckets, 50))}ms p95=${ms(histogramPercentile(now.buckets, previous.buckets, 95))}ms p99=${ms(histogramPercentile(now.buckets, previous.buckets, 99))}ms (bucket bounds, from /metrics)\n`,
            );
          } else {
            process.stdout.write(`${stamp} reading ${metric} from ${base}/metrics\n`);
          }
          previous = now;
        } else {
          const started = process.hrtime.bigint();
          let status = 'down';
          try {
            const res = await fetch(`${base}/health`);
            await res.arrayBuffer();
            status = String(res.status);
          } catch {
            status = 'unreachable';
          }
          process.stdout.write(
            `${stamp} health=${status} time=${ms(Number(process.hrtime.bigint() - started) / 1e6)}ms (no ${metric} at /metrics)\n`,
          );
        }
      }
      if (count === 0 || line + 1 < count) {
        await new Promise((resolve) => setTimeout(resolve, interval * 1000));
      }
    }
  } finally {
    await db?.ds.destroy();
  }
  return 0;
}

async function benchmark(args: ParsedArgs): Promise<number> {
  loadAutocannon(); // before any request: says at once when a production install lacks it
  const base = (stringArg(args, 'url') ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const key = stringArg(args, 'api-key') ?? (process.env.ADMIN_API_KEYS ?? '').split(',')[0];
  if (!key) {
    throw new Error('benchmark needs --api-key (or ADMIN_API_KEYS)');
  }
  const headers = { authorization: `Bearer ${key}` };
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${base}${path}`, { headers });
    if (!res.ok) {
      throw new Error(`GET ${path} answered ${res.status}`);
    }
    return (await res.json()) as T;
  };
  const users = (await get<{ data: { id: string }[] }>('/api/v1/users?limit=500')).data.map(
    (u) => u.id,
  );
  const models = (await get<{ data: { id: string }[] }>('/api/v1/models?limit=500')).data.map(
    (m) => m.id,
  );
  if (users.length === 0 || models.length === 0) {
    throw new Error('the service has no users or no models to check');
  }
  let i = 0;
  const result = await runLoad({
    url: base,
    connections: numberArg(args, 'connections', 100),
    durationSeconds: secondsArg(args, 'duration', 10),
    next: () => {
      i++;
      return {
        path: `/api/v1/access/check?user_id=${encodeURIComponent(users[i % users.length])}&model_id=${encodeURIComponent(models[(i * 7) % models.length])}`,
        headers,
      };
    },
  });
  process.stdout.write(
    `${textTable(
      ['route', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'non-2xx'],
      [
        [
          'GET /api/v1/access/check',
          result.rps.toFixed(0),
          ms(result.latency.p50),
          ms(result.latency.p95),
          ms(result.latency.p99),
          String(result.errors + result.timeouts),
          String(result.non2xx),
        ],
      ],
    )}\n`,
  );
  return result.errors + result.timeouts + result.non2xx === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const args = parseArgs(ARGS, process.argv.slice(2));
  const command = stringArg(args, 'command');
  if (args.help || !command) {
    process.stdout.write(`${HELP}\n`);
    return command || args.help ? 0 : 2;
  }
  switch (command) {
    case 'report':
      return report(args);
    case 'continuous':
      return continuous(args);
    case 'benchmark':
      return benchmark(args);
    default:
      process.stderr.write(`unknown command "${command}"\n\n${HELP}\n`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `monitor failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(2);
  },
);
