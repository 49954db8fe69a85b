import { MIGRATIONS } from '../migrations';
import { Client } from 'pg';
import { ADMIN_KEY } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { ServerProcess } from './support/server-process';

/** Issue 7: several stateless replicas on one PostgreSQL database. */
describe('replicas on one PostgreSQL database', () => {
  const BOUND_MS = 1000;
  let db: TestDatabase;
  let replicas: ServerProcess[] = [];

  const call = async (server: ServerProcess, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  const allowed = async (server: ServerProcess, user: string, model: string): Promise<boolean> => {
    const res = await call(
      server,
      'GET',
      `/api/v1/access/check?user_id=${user}&model_id=${encodeURIComponent(model)}`,
    );
    expect(res.status).toBe(200);
    return res.body.allowed as boolean;
  };

  /** Milliseconds until `server` answers `expected`, polling; fails beyond the bound. */
  const visibleWithin = async (
    server: ServerProcess,
    user: string,
    model: string,
    expected: boolean,
  ) => {
    const started = Date.now();
    for (;;) {
      if ((await allowed(server, user, model)) === expected) {
        return Date.now() - started;
      }
      if (Date.now() - started > BOUND_MS) {
        throw new Error(`replica ${server.port} still answers ${!expected} after ${BOUND_MS} ms`);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const env = {
      DATABASE_URL: db.url,
      ADMIN_API_KEYS: ADMIN_KEY,
      OPENROUTER_EXTERNAL_USER: 'mai_client_replicas',
      ORGANIZATION_NAME: 'Replica Test Org',
    };
    // All three boot at the same moment on an empty database.
    replicas = await Promise.all([1, 2, 3].map(() => ServerProcess.start(env)));
    await Promise.all(replicas.map((r) => r.ready()));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await db.drop();
  });

  it('boots every replica, migrates once and seeds the default organization once', async () => {
    for (const replica of replicas) {
      expect((await fetch(`${replica.url}/health`)).status).toBe(200);
    }
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const migrations = await client.query('SELECT name FROM migrations');
      expect(migrations.rows.map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name));
      const orgs = await client.query('SELECT id FROM organizations');
      expect(orgs.rows).toEqual([{ id: 'mai_client_replicas' }]);
      const events = await client.query(
        "SELECT COUNT(*)::int AS n FROM audit_events WHERE action = 'organization.create'",
      );
      expect(events.rows[0].n).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('a write through one replica is visible through the others within the bound', async () => {
    const [a, b, c] = replicas;
    const latencies: number[] = [];
    expect(
      (
        await call(a, 'PUT', '/api/v1/users/rep-user', {
          name: 'R',
          email: 'r@example.com',
          role: 'user',
        })
      ).status,
    ).toBe(201);
    expect(
      (await call(a, 'PUT', '/api/v1/models/openai%2Fgpt-4o', { name: 'GPT-4o' })).status,
    ).toBe(201);
    expect(
      (
        await call(a, 'POST', '/api/v1/organizations', {
          id: 'acme',
          name: 'Acme',
          external_user: 'mai_acme',
        })
      ).status,
    ).toBe(201);
    expect((await call(a, 'PUT', '/api/v1/organizations/acme/members/rep-user', {})).status).toBe(
      201,
    );

    // Warm the caches of b and c, then change through a and read through b and c.
    const steps: [string, () => Promise<unknown>, boolean][] = [
      [
        'grant',
        () => call(a, 'PUT', '/api/v1/organizations/acme/models/openai%2Fgpt-4o', {}),
        true,
      ],
      [
        'suspend membership',
        () => call(b, 'PUT', '/api/v1/organizations/acme/members/rep-user', { is_active: false }),
        false,
      ],
      [
        'reactivate membership',
        () => call(c, 'PUT', '/api/v1/organizations/acme/members/rep-user', { is_active: true }),
        true,
      ],
      [
        'archive organization',
        () => call(a, 'PATCH', '/api/v1/organizations/acme', { is_active: false }),
        false,
      ],
      [
        'restore organization',
        () => call(b, 'PATCH', '/api/v1/organizations/acme', { is_active: true }),
        true,
      ],
      [
        'revoke grant',
        () => call(c, 'DELETE', '/api/v1/organizations/acme/models/openai%2Fgpt-4o'),
        false,
      ],
      [
        'grant a pattern',
        () => call(a, 'PUT', '/api/v1/organizations/acme/models/openai%2F*', {}),
        true,
      ],
    ];
    for (const [name, write, expected] of steps) {
      for (const r of replicas) {
        await allowed(r, 'rep-user', 'openai/gpt-4o');
      }
      const res = (await write()) as { status: number };
      if (![200, 201, 204].includes(res.status)) {
        throw new Error(`step "${name}" answered ${res.status}`);
      }
      for (const r of replicas) {
        const ms = await visibleWithin(r, 'rep-user', 'openai/gpt-4o', expected).catch(
          (error: Error) => {
            throw new Error(`after step "${name}": ${error.message}`);
          },
        );
        latencies.push(ms);
      }
    }
    expect(latencies).toHaveLength(steps.length * replicas.length);
    latencies.sort((x, y) => x - y);
    process.stdout.write(
      `cross-replica visibility over ${latencies.length} reads: max ${latencies[latencies.length - 1]} ms, median ${latencies[Math.floor(latencies.length / 2)]} ms (bound ${BOUND_MS} ms)\n`,
    );
    expect(latencies[latencies.length - 1]).toBeLessThanOrEqual(BOUND_MS);
  });

  it('each replica reports its own health', async () => {
    const stopped = replicas.pop()!;
    await stopped.stop();
    await expect(fetch(`${stopped.url}/health`)).rejects.toThrow();
    for (const replica of replicas) {
      expect((await fetch(`${replica.url}/health`)).status).toBe(200);
    }
  });
});
