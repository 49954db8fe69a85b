import { DataSource } from 'typeorm';
import { prng } from '../tools/lib/prng';
import { seedPlan } from './support/seeds';
import { ADMIN_KEY, enc, startTestApp, TestApp } from './support/test-app';

/**
 * Hundreds of concurrent writers add, change and remove memberships and grants (single PUT and
 * DELETE, and bulk) while readers check access. Each writer owns its keys and runs its ops in
 * order, so it knows the exact answer of each op and the final state is decidable: per key, the
 * writer's last acknowledged op. Many writers run at once, on shared organizations.
 * The op mix comes from seeds: the in-process run uses a pinned seed, the HTTP run one random
 * seed, printed (and in its test name); CONCURRENCY_SEED=<seed> runs both with that seed.
 */

const SEEDS = seedPlan('CONCURRENCY_SEED', process.env.CONCURRENCY_SEED, [1765100011]);
const INJECT_SEED = SEEDS[0].seed;
const HTTP_SEED = SEEDS[SEEDS.length - 1];
const ORGS = 4;
const WRITERS = Number(process.env.CONCURRENCY_WRITERS ?? 200);

type Send = (
  method: string,
  url: string,
  body?: unknown,
) => Promise<{ status: number; text: string }>;

interface Outcome {
  acknowledged: number;
  notFound: number;
  failures: string[];
  /** Expected audit events as `action|target_id`. */
  audit: Map<string, number>;
  members: Map<string, { role: string; active: boolean }>;
  grants: Map<string, { active: boolean }>;
  reads: number;
  /** Reads by writers of their own keys right after their writes. */
  ownReads: number;
  /** Slowest reader round (three reads) while the writers ran, in ms: how long reads queue behind writes. */
  slowestReadMs: number;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

describe('concurrent writers and readers', () => {
  let t: TestApp;
  let ds: DataSource;
  const figures: Record<string, unknown> = {
    seeds: { inject: INJECT_SEED, http: HTTP_SEED.seed },
  };

  beforeAll(async () => {
    t = await startTestApp();
    ds = t.app.get(DataSource);
    for (let o = 0; o < ORGS; o++) {
      const res = await t.post('/api/v1/organizations', {
        id: `c-org-${o}`,
        name: `Concurrent ${o}`,
        external_user: `ext_c_${o}`,
      });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    process.stdout.write(`concurrency: ${JSON.stringify(figures)}\n`);
    await t.close();
  });

  /** Users, models and the probe user (member of every organization) of one run, made concurrently. */
  async function prepare(send: Send, tag: string, writers: number): Promise<void> {
    const users = Array.from({ length: writers }, (_, i) => [
      `${tag}-u${i}a`,
      `${tag}-u${i}b`,
    ]).flat();
    const put = await Promise.all(
      [...users, `${tag}-probe`, `${tag}-stable`].map((id) =>
        send('PUT', `/api/v1/users/${enc(id)}`, {
          name: id,
          email: `${id}@example.com`,
          role: 'user',
        }),
      ),
    );
    expect(put.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
    const models = Array.from({ length: writers }, (_, i) => [
      `${tag}-g${i}/a:1.0`,
      `${tag}-g${i}/b`,
    ]).flat();
    const imported = await send('POST', '/api/v1/models/bulk', {
      models: [...models, `${tag}-stable/model`].map((id) => ({ id, name: id })),
    });
    expect(imported.status).toBe(200);
    for (let o = 0; o < ORGS; o++) {
      expect(
        (await send('PUT', `/api/v1/organizations/c-org-${o}/members/${enc(`${tag}-probe`)}`, {}))
          .status,
      ).toBe(201);
    }
    expect(
      (await send('PUT', `/api/v1/organizations/c-org-0/members/${enc(`${tag}-stable`)}`, {}))
        .status,
    ).toBe(201);
    for (let o = 0; o < ORGS; o++) {
      expect(
        (
          await send(
            'PUT',
            `/api/v1/organizations/c-org-${o}/models/${enc(`${tag}-stable/model`)}`,
            {},
          )
        ).status,
      ).toBe(201);
    }
  }

  async function run(
    send: Send,
    tag: string,
    writers: number,
    opsPerWriter: number,
    readers: number,
    seed: number,
  ): Promise<Outcome> {
    const out: Outcome = {
      acknowledged: 0,
      notFound: 0,
      failures: [],
      audit: new Map(),
      members: new Map(),
      grants: new Map(),
      reads: 0,
      ownReads: 0,
      slowestReadMs: 0,
    };
    const random = prng(seed + tag.length * 7919);
    const plans = Array.from({ length: writers }, (_, i) => ({
      i,
      draws: Array.from({ length: opsPerWriter * 4 }, () => random()),
    }));

    const expectOp = async (
      what: string,
      method: string,
      url: string,
      body: unknown,
      expected: number,
    ): Promise<boolean> => {
      const res = await send(method, url, body);
      if (res.status !== expected) {
        out.failures.push(
          `${what}: expected ${expected}, got ${res.status} ${res.text.slice(0, 200)}`,
        );
        return false;
      }
      if (res.status === 404) {
        out.notFound++;
      } else {
        out.acknowledged++;
      }
      return true;
    };

    /** Read-your-writes: right after its acknowledged write, a writer's own key reads as written. */
    const expectAllowed = async (
      what: string,
      userId: string,
      modelId: string,
      allowed: boolean,
    ) => {
      const res = await send(
        'GET',
        `/api/v1/access/check?user_id=${enc(userId)}&model_id=${enc(modelId)}`,
      );
      out.ownReads++;
      if (res.status !== 200 || !res.text.includes(`"allowed":${allowed}`)) {
        out.failures.push(
          `read-your-writes after ${what}: ${userId} -> ${modelId} should be allowed=${allowed}: ${res.status} ${res.text.slice(0, 200)}`,
        );
      }
    };

    const membershipWriter = async (i: number, draws: number[]) => {
      const org = `c-org-${i % ORGS}`;
      const owned = [`${tag}-u${i}a`, `${tag}-u${i}b`];
      const state = new Map<string, { role: string; active: boolean }>();
      let d = 0;
      for (let n = 0; n < opsPerWriter; n++) {
        const kind = draws[d++];
        const user = owned[draws[d++] < 0.5 ? 0 : 1];
        const r1 = draws[d++];
        const r2 = draws[d++];
        const key = `${org}/${user}`;
        if (kind < 0.5) {
          const body = {
            ...(r1 < 0.5 ? { role: r1 < 0.25 ? 'admin' : 'member' } : {}),
            ...(r2 < 0.5 ? { is_active: r2 < 0.25 } : {}),
          };
          const old = state.get(user);
          if (
            await expectOp(
              `PUT member ${key}`,
              'PUT',
              `/api/v1/organizations/${org}/members/${enc(user)}`,
              body,
              old ? 200 : 201,
            )
          ) {
            const next = {
              role: body.role ?? old?.role ?? 'member',
              active: body.is_active ?? old?.active ?? true,
            };
            state.set(user, next);
            // a write that changes nothing leaves no audit event
            if (!old || old.role !== next.role || old.active !== next.active) {
              bump(out.audit, `${old ? 'membership.update' : 'membership.create'}|${key}`);
            }
          }
        } else if (kind < 0.8) {
          const existed = state.has(user);
          if (
            await expectOp(
              `DELETE member ${key}`,
              'DELETE',
              `/api/v1/organizations/${org}/members/${enc(user)}`,
              undefined,
              existed ? 204 : 404,
            )
          ) {
            state.delete(user);
            if (existed) {
              bump(out.audit, `membership.delete|${key}`);
            }
          }
        } else {
          const role = r1 < 0.5 ? 'admin' : 'member';
          if (
            await expectOp(
              `bulk members ${org}`,
              'POST',
              `/api/v1/organizations/${org}/members/bulk`,
              { user_ids: owned, role },
              200,
            )
          ) {
            const changes = owned.some((u) => {
              const m = state.get(u);
              return !m || m.role !== role || !m.active;
            });
            owned.forEach((u) => state.set(u, { role, active: true }));
            if (changes) {
              bump(out.audit, `membership.bulk_add|${org}`);
            }
          }
        }
        // The user's only organization grants the stable model: allowed iff an active membership.
        for (const u of owned) {
          await expectAllowed(
            `op ${n} of membership writer ${i}`,
            u,
            `${tag}-stable/model`,
            state.get(u)?.active ?? false,
          );
        }
      }
      state.forEach((v, user) => out.members.set(`${org}/${user}`, v));
    };

    const grantWriter = async (i: number, draws: number[]) => {
      const org = `c-org-${i % ORGS}`;
      const owned = [`${tag}-g${i}/a:1.0`, `${tag}-g${i}/b`, `${tag}-g${i}/*`];
      const state = new Map<string, { active: boolean }>();
      let d = 0;
      for (let n = 0; n < opsPerWriter; n++) {
        const kind = draws[d++];
        const target = owned[Math.floor(draws[d++] * owned.length)];
        const r1 = draws[d++];
        const r2 = draws[d++];
        const key = `${org}/${target}`;
        if (kind < 0.5) {
          const body = r1 < 0.5 ? { is_active: r1 < 0.3 } : {};
          const old = state.get(target);
          if (
            await expectOp(
              `PUT grant ${key}`,
              'PUT',
              `/api/v1/organizations/${org}/models/${enc(target)}`,
              body,
              old ? 200 : 201,
            )
          ) {
            const active = body.is_active ?? true;
            state.set(target, { active });
            if (!old || old.active !== active) {
              bump(out.audit, `${old ? 'grant.update' : 'grant.create'}|${key}`);
            }
          }
        } else if (kind < 0.8) {
          const existed = state.has(target);
          if (
            await expectOp(
              `DELETE grant ${key}`,
              'DELETE',
              `/api/v1/organizations/${org}/models/${enc(target)}`,
              undefined,
              existed ? 204 : 404,
            )
          ) {
            state.delete(target);
            if (existed) {
              bump(out.audit, `grant.delete|${key}`);
            }
          }
        } else {
          const grant = owned.filter((_, k) => ((r2 * 8) >> k) & 1);
          const revoke = owned.filter((x) => !grant.includes(x)).slice(0, r1 < 0.5 ? 1 : 2);
          if (
            await expectOp(
              `bulk grants ${org}`,
              'POST',
              `/api/v1/organizations/${org}/models/bulk`,
              { grant, revoke },
              200,
            )
          ) {
            const changes =
              grant.some((g) => !state.get(g)?.active) || revoke.some((g) => state.has(g));
            grant.forEach((g) => state.set(g, { active: true }));
            revoke.forEach((g) => state.delete(g));
            if (changes) {
              bump(out.audit, `grant.bulk|${org}`);
            }
          }
        }
        // Only this writer grants its models; the probe user is an active member everywhere.
        const pattern = state.get(owned[2])?.active ?? false;
        for (const model of owned.slice(0, 2)) {
          await expectAllowed(
            `op ${n} of grant writer ${i}`,
            `${tag}-probe`,
            model,
            pattern || (state.get(model)?.active ?? false),
          );
        }
      }
      state.forEach((v, target) => out.grants.set(`${org}/${target}`, v));
    };

    let writing = true;
    const reader = async (r: number) => {
      const random2 = prng(seed + r);
      while (writing && out.failures.length < 50) {
        // Let the writers' I/O callbacks run between reads (inject may settle without a macrotask).
        await new Promise((resolve) => setImmediate(resolve));
        const readStarted = Date.now();
        const stable = await send(
          'GET',
          `/api/v1/access/check?user_id=${enc(`${tag}-stable`)}&model_id=${enc(`${tag}-stable/model`)}`,
        );
        out.reads++;
        if (stable.status !== 200 || !stable.text.includes('"allowed":true')) {
          out.failures.push(
            `reader: stable access answered ${stable.status} ${stable.text.slice(0, 200)}`,
          );
        }
        const i = Math.floor(random2() * writers);
        const probe = await send(
          'GET',
          `/api/v1/access/check?user_id=${enc(`${tag}-u${i}a`)}&model_id=${enc(`${tag}-g${i}/b`)}`,
        );
        const listing = await send('GET', `/api/v1/users/${enc(`${tag}-probe`)}/models`);
        out.reads += 2;
        out.slowestReadMs = Math.max(out.slowestReadMs, Date.now() - readStarted);
        for (const res of [probe, listing]) {
          if (res.status !== 200) {
            out.failures.push(`reader: ${res.status} ${res.text.slice(0, 200)}`);
          }
        }
      }
    };

    const readersDone = Promise.all(Array.from({ length: readers }, (_, r) => reader(r)));
    await Promise.all(
      plans.map((p) =>
        p.i % 2 === 0 ? membershipWriter(p.i, p.draws) : grantWriter(p.i, p.draws),
      ),
    );
    writing = false;
    await readersDone;
    return out;
  }

  async function verify(tag: string, out: Outcome, auditFrom: number): Promise<void> {
    expect(out.failures).toEqual([]);
    const like = `${tag}-%`;
    const memberRows: {
      organization_id: string;
      user_id: string;
      role: string;
      is_active: unknown;
    }[] = await ds.query(
      `SELECT organization_id, user_id, role, is_active FROM organization_members WHERE user_id LIKE '${like}' AND user_id NOT IN ('${tag}-probe', '${tag}-stable')`,
    );
    const grantRows: { organization_id: string; model_id: string; is_active: unknown }[] =
      await ds.query(
        `SELECT organization_id, model_id, is_active FROM organization_models WHERE model_id LIKE '${like}' AND model_id <> '${tag}-stable/model'`,
      );
    const bool = (v: unknown) => v === true || v === 1 || v === '1' || v === 't';
    const foundMembers = new Map(
      memberRows.map((r) => [
        `${r.organization_id}/${r.user_id}`,
        { role: r.role, active: bool(r.is_active) },
      ]),
    );
    const foundGrants = new Map(
      grantRows.map((r) => [`${r.organization_id}/${r.model_id}`, { active: bool(r.is_active) }]),
    );
    // No duplicate rows: one row per key.
    expect(foundMembers.size).toBe(memberRows.length);
    expect(foundGrants.size).toBe(grantRows.length);
    const sorted = <V>(m: Map<string, V>) =>
      [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted(foundMembers)).toEqual(sorted(out.members));
    expect(sorted(foundGrants)).toEqual(sorted(out.grants));

    const events: { action: string; target_id: string }[] = await ds.query(
      `SELECT action, target_id FROM audit_events WHERE id > ${auditFrom} AND action IN ('membership.create','membership.update','membership.delete','membership.bulk_add','grant.create','grant.update','grant.delete','grant.bulk')`,
    );
    const foundAudit = new Map<string, number>();
    for (const e of events) {
      if (
        e.target_id.includes(`${tag}-`) ||
        (e.target_id.startsWith('c-org-') && !e.target_id.includes('/'))
      ) {
        bump(foundAudit, `${e.action}|${e.target_id}`);
      }
    }
    expect(sorted(foundAudit)).toEqual(sorted(out.audit));
    const expectedEvents = [...out.audit.values()].reduce((a, b) => a + b, 0);
    // every acknowledged write that changed something has its event; no-op writes have none
    expect(expectedEvents).toBeLessThanOrEqual(out.acknowledged);
    expect(expectedEvents).toBeGreaterThan(out.acknowledged / 2);

    // The answers after the storm reflect the final state (no stale cache): the probe user is an
    // active member of every organization, so it may use a writer's model iff that writer's
    // organization holds an active grant naming it exactly or by the writer's pattern.
    const listing = await t.get(`/api/v1/users/${enc(`${tag}-probe`)}/models`);
    const expectedModels = new Set<string>([`${tag}-stable/model`]);
    for (const [key, grant] of out.grants) {
      if (!grant.active) {
        continue;
      }
      const target = key.slice(key.indexOf('/') + 1);
      if (target.endsWith('*')) {
        const prefix = target.slice(0, -1);
        [`${prefix}a:1.0`, `${prefix}b`].forEach((m) => expectedModels.add(m));
      } else {
        expectedModels.add(target);
      }
    }
    const got = (listing.body.data as { id: string }[])
      .map((m) => m.id)
      .filter((id) => id.startsWith(`${tag}-`));
    expect(got.sort()).toEqual([...expectedModels].sort());
  }

  async function maxAuditId(): Promise<number> {
    const rows: { m: number | string | null }[] = await ds.query(
      'SELECT MAX(id) AS m FROM audit_events',
    );
    return Number(rows[0].m ?? 0);
  }

  const inject: Send = async (method, url, body) => {
    const res = await t.request(method, url, body === undefined ? {} : { body });
    return { status: res.status, text: res.text };
  };

  it('idempotent PUTs of one key sent at once all succeed: one 201, the rest 200, one row, one audit event per key', async () => {
    const same = 30;
    const targets: [string, string, unknown][] = [
      [
        'user',
        `/api/v1/users/${enc('race-user')}`,
        { name: 'Race', email: 'race@example.com', role: 'user' },
      ],
      ['model', `/api/v1/models/${enc('race/model:1')}`, { name: 'Race model' }],
      [
        'membership',
        `/api/v1/organizations/c-org-1/members/${enc('race-user')}`,
        { role: 'member' },
      ],
      ['grant', `/api/v1/organizations/c-org-1/models/${enc('race/model:1')}`, { is_active: true }],
    ];
    const from = await maxAuditId();
    const summary: Record<string, Record<number, number>> = {};
    for (const [what, url, body] of targets) {
      const replies = await Promise.all(Array.from({ length: same }, () => t.put(url, body)));
      const counts: Record<number, number> = {};
      replies.forEach((r) => (counts[r.status] = (counts[r.status] ?? 0) + 1));
      summary[what] = counts;
    }
    expect(summary).toEqual({
      user: { 201: 1, 200: same - 1 },
      model: { 201: 1, 200: same - 1 },
      membership: { 201: 1, 200: same - 1 },
      grant: { 201: 1, 200: same - 1 },
    });
    const events: { n: number | string }[] = await ds.query(
      `SELECT COUNT(*) AS n FROM audit_events WHERE id > ${from}`,
    );
    // The PUTs that change nothing are acknowledged but write no audit event: one per key.
    expect(Number(events[0].n)).toBe(4);
  });

  it(`${WRITERS} writers x 6 ops through inject (seed ${INJECT_SEED}), with 20 readers: every op answers as its writer expects, the final rows and the audit log match`, async () => {
    const started = Date.now();
    await prepare(inject, 'ci', WRITERS);
    const from = await maxAuditId();
    const out = await run(inject, 'ci', WRITERS, 6, 20, INJECT_SEED);
    await verify('ci', out, from);
    figures.inject = {
      writers: WRITERS,
      acknowledged: out.acknowledged,
      not_found: out.notFound,
      members_found: out.members.size,
      grants_found: out.grants.size,
      reads: out.reads,
      read_your_writes_checks: out.ownReads,
      slowest_read_ms: out.slowestReadMs,
      ms: Date.now() - started,
    };
  }, 180_000);

  it(`60 writers x 5 ops over real HTTP keep-alive connections (seed ${HTTP_SEED.seed}${HTTP_SEED.pinned ? '' : ', random'}), with 10 readers`, async () => {
    const started = Date.now();
    await t.app.listen(0, '127.0.0.1');
    const address = t.app.getHttpServer().address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const http: Send = async (method, url, body) => {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN_KEY}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, text: await res.text() };
    };
    await prepare(http, 'ch', 60);
    const from = await maxAuditId();
    const out = await run(http, 'ch', 60, 5, 10, HTTP_SEED.seed);
    await verify('ch', out, from);
    figures.http = {
      writers: 60,
      acknowledged: out.acknowledged,
      not_found: out.notFound,
      members_found: out.members.size,
      grants_found: out.grants.size,
      reads: out.reads,
      read_your_writes_checks: out.ownReads,
      slowest_read_ms: out.slowestReadMs,
      ms: Date.now() - started,
    };
  }, 180_000);
});
