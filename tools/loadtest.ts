/**
 * `npm run loadtest -- --users 300 --duration 60s --url <base>`: virtual users with web UI
 * sessions and think time against a running service. Run with --help for the options.
 */
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { signWebUiToken } from '../src/auth/jwt';
import { ArgsSpec, numberArg, parseArgs, secondsArg, stringArg } from './lib/args';
import { LatencySamples, ms, textTable } from './lib/perf-stats';

const HELP = `Usage: npm run loadtest -- [options]

Runs N virtual users against a running service. Each is a session of a real user (found
through GET /api/v1/users with the admin key) holding a web UI token signed with the
secret; between requests it thinks (random, exponential, mean --think). The mix:
  38% GET /v1/models (own token)          30% GET /api/v1/access/check (admin key)
  20% GET /api/v1/me/organizations         10% GET /api/v1/users/:id/models (admin key)
   2% admin write: PUT /api/v1/users/:id with the user's own fields (idempotent upsert)

Options:
  --url <base>        service base URL (default http://127.0.0.1:8080)
  --users <n>         virtual users (default 300)
  --duration <t>      e.g. 60s, 2m (default 60s)
  --think <ms>        mean think time between a user's requests (default 200)
  --api-key <key>     admin API key (default: first of ADMIN_API_KEYS)
  --secret <s>        WEBUI_SECRET_KEY of the service (default: WEBUI_SECRET_KEY)
  --json <file>       write the report as JSON too
  --help              this text

Targets: p95 < 10 ms, p99 < 15 ms, success > 99.9% (2xx). Exit code 1 when one is missed.`;

const ARGS: ArgsSpec = {
  options: ['url', 'users', 'duration', 'think', 'api-key', 'secret', 'json'].map((name) => ({
    name,
    type: 'string',
  })),
};

type Action = 'openai_models' | 'check' | 'my_organizations' | 'user_models' | 'admin_write';

const MIX: [Action, number][] = [
  ['openai_models', 0.38],
  ['check', 0.3],
  ['my_organizations', 0.2],
  ['user_models', 0.1],
  ['admin_write', 0.02],
];

interface Reply {
  status: number;
  body: string;
}

class Client {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(base: string, sockets: number) {
    this.url = new URL(base);
    this.agent =
      this.url.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: sockets })
        : new Agent({ keepAlive: true, maxSockets: sockets });
  }

  send(method: string, path: string, token: string, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const send = this.url.protocol === 'https:' ? httpsRequest : request;
    return new Promise((resolve, reject) => {
      const req = send(
        {
          host: this.url.hostname,
          port: this.url.port,
          path,
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload ? { 'content-type': 'application/json' } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

interface UserRow {
  id: string;
  name: string;
  email: string;
  role: string;
}

async function discover(
  client: Client,
  key: string,
  wanted: number,
): Promise<{ users: UserRow[]; models: string[] }> {
  const users: UserRow[] = [];
  for (let offset = 0; users.length < wanted; offset += 500) {
    const res = await client.send('GET', `/api/v1/users?limit=500&offset=${offset}`, key);
    if (res.status !== 200) {
      throw new Error(`GET /api/v1/users answered ${res.status}: ${res.body.slice(0, 200)}`);
    }
    const page = (JSON.parse(res.body) as { data: UserRow[] }).data;
    users.push(...page.filter((u) => u.role !== 'pending'));
    if (page.length < 500) {
      break;
    }
  }
  const models = await client.send('GET', '/api/v1/models?limit=500', key);
  if (models.status !== 200) {
    throw new Error(`GET /api/v1/models answered ${models.status}`);
  }
  return {
    users,
    models: (JSON.parse(models.body) as { data: { id: string }[] }).data.map((m) => m.id),
  };
}

function pick(): Action {
  let r = Math.random();
  for (const [action, share] of MIX) {
    if (r < share) {
      return action;
    }
    r -= share;
  }
  return 'check';
}

async function main(): Promise<number> {
  const args = parseArgs(ARGS, process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const base = (stringArg(args, 'url') ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const vus = Math.max(1, Math.floor(numberArg(args, 'users', 300)));
  const duration = secondsArg(args, 'duration', 60);
  const think = numberArg(args, 'think', 200);
  const key = stringArg(args, 'api-key') ?? (process.env.ADMIN_API_KEYS ?? '').split(',')[0];
  const secret = stringArg(args, 'secret') ?? process.env.WEBUI_SECRET_KEY ?? '';
  if (!key || !secret) {
    throw new Error('needs --api-key and --secret (or ADMIN_API_KEYS and WEBUI_SECRET_KEY)');
  }
  const client = new Client(base, vus + 10);
  const { users, models } = await discover(client, key, vus);
  if (users.length === 0 || models.length === 0) {
    throw new Error('the service has no usable users or no models');
  }
  const exp = Math.floor(Date.now() / 1000) + 3600 + duration;
  const sessions = Array.from({ length: vus }, (_, i) => {
    const user = users[i % users.length];
    return { user, token: signWebUiToken({ id: user.id, exp }, secret) };
  });
  process.stderr.write(
    `[loadtest] ${vus} virtual users (${users.length} distinct) for ${duration} s against ${base}, think ${think} ms\n`,
  );

  const all = new LatencySamples();
  const perAction = new Map<Action, { samples: LatencySamples; ok: number; failed: number }>();
  const statuses: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  const started = Date.now();
  const deadline = started + duration * 1000;

  const step = async (session: (typeof sessions)[number]): Promise<void> => {
    const action = pick();
    const model = models[Math.floor(Math.random() * models.length)];
    const id = encodeURIComponent(session.user.id);
    const t0 = process.hrtime.bigint();
    let status = 0;
    try {
      const res =
        action === 'openai_models'
          ? await client.send('GET', '/v1/models', session.token)
          : action === 'check'
            ? await client.send(
                'GET',
                `/api/v1/access/check?user_id=${id}&model_id=${encodeURIComponent(model)}`,
                key,
              )
            : action === 'my_organizations'
              ? await client.send('GET', '/api/v1/me/organizations', session.token)
              : action === 'user_models'
                ? await client.send('GET', `/api/v1/users/${id}/models`, key)
                : await client.send('PUT', `/api/v1/users/${id}`, key, {
                    name: session.user.name,
                    email: session.user.email,
                    role: session.user.role,
                  });
      status = res.status;
    } catch {
      status = 0;
    }
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
    all.add(elapsed);
    const entry = perAction.get(action) ?? { samples: new LatencySamples(), ok: 0, failed: 0 };
    perAction.set(action, entry);
    entry.samples.add(elapsed);
    statuses[status || 'network error'] = (statuses[status || 'network error'] ?? 0) + 1;
    if (status >= 200 && status < 300) {
      ok++;
      entry.ok++;
    } else {
      failed++;
      entry.failed++;
    }
  };

  await Promise.all(
    sessions.map(async (session, i) => {
      // Spread the start over one think time so the users do not arrive in lockstep.
      await new Promise((r) => setTimeout(r, (i / vus) * think));
      while (Date.now() < deadline) {
        await step(session);
        await new Promise((r) => setTimeout(r, -Math.log(1 - Math.random()) * think));
      }
    }),
  );
  client.close();

  const elapsed = (Date.now() - started) / 1000;
  const latency = all.summary();
  const total = ok + failed;
  const success = total === 0 ? 0 : ok / total;
  const targets = [
    { name: 'p95', target: '< 10 ms', measured: `${ms(latency.p95)} ms`, pass: latency.p95 < 10 },
    { name: 'p99', target: '< 15 ms', measured: `${ms(latency.p99)} ms`, pass: latency.p99 < 15 },
    {
      name: 'success',
      target: '> 99.9%',
      measured: `${(success * 100).toFixed(3)}%`,
      pass: success > 0.999,
    },
  ];
  const report = {
    url: base,
    virtual_users: vus,
    distinct_users: Math.min(vus, users.length),
    duration_seconds: elapsed,
    think_ms: think,
    requests: total,
    throughput_rps: total / elapsed,
    latency_ms: latency,
    success_rate: success,
    error_rate: total === 0 ? 0 : failed / total,
    statuses,
    actions: Object.fromEntries(
      [...perAction].map(([a, e]) => [
        a,
        { requests: e.ok + e.failed, failed: e.failed, latency_ms: e.samples.summary() },
      ]),
    ),
    targets,
    passed: targets.every((t) => t.pass),
  };
  process.stdout.write(
    `\n${textTable(
      ['action', 'requests', 'failed', 'p50 ms', 'p95 ms', 'p99 ms'],
      [
        ...[...perAction].map(([a, e]) => {
          const s = e.samples.summary();
          return [a, String(e.ok + e.failed), String(e.failed), ms(s.p50), ms(s.p95), ms(s.p99)];
        }),
        ['all', String(total), String(failed), ms(latency.p50), ms(latency.p95), ms(latency.p99)],
      ],
    )}\n\nthroughput ${report.throughput_rps.toFixed(0)} req/s over ${elapsed.toFixed(1)} s, success ${(success * 100).toFixed(3)}%, statuses ${JSON.stringify(statuses)}\n\n${textTable(
      ['target', 'wanted', 'measured', 'result'],
      targets.map((t) => [t.name, t.target, t.measured, t.pass ? 'pass' : 'MISS']),
    )}\n`,
  );
  const json = stringArg(args, 'json');
  if (json) {
    writeFileSync(json, JSON.stringify(report, null, 2));
  }
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `loadtest failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(2);
  },
);
