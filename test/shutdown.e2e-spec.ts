import { ADMIN_KEY } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { ServerProcess } from './support/server-process';

describe('graceful shutdown', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db.drop());

  it('answers the requests in flight, closes the database and exits 0 on SIGTERM', async () => {
    const server = await ServerProcess.start({ DATABASE_URL: db.url, ADMIN_API_KEYS: ADMIN_KEY });
    await server.ready();
    type Outcome = { status: number } | { refused: string };
    const put = (i: number): Promise<Outcome> =>
      fetch(`${server.url}/api/v1/users/u-${i}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `U ${i}`, email: `u${i}@example.com`, role: 'user' }),
      }).then(
        (r) => ({ status: r.status }),
        (error: unknown) => ({ refused: String(error) }),
      );
    const first = await put(0);
    expect(first).toEqual({ status: 201 });
    const inFlight = Array.from({ length: 50 }, (_, i) => put(i + 1));
    await new Promise((resolve) => setImmediate(resolve));
    const code = await server.stop('SIGTERM');
    const outcomes = [first, ...(await Promise.all(inFlight))];
    expect(code).toBe(0);
    const log = server.output.join('');
    expect(log).toContain('"msg":"shutting down"');
    expect(log).toContain('database connection closed');
    // Every request completed, was answered 503, or was refused before it started.
    for (const outcome of outcomes) {
      if ('status' in outcome) {
        expect([201, 503]).toContain(outcome.status);
      }
    }

    const again = await ServerProcess.start({ DATABASE_URL: db.url, ADMIN_API_KEYS: ADMIN_KEY });
    await again.ready();
    const list = await fetch(`${again.url}/api/v1/users?limit=500`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    }).then((r) => r.json() as Promise<{ total: number }>);
    const acknowledged = outcomes.filter((o) => 'status' in o && o.status === 201).length;
    process.stdout.write(
      `shutdown: ${acknowledged} of ${outcomes.length} writes acknowledged, all present after restart\n`,
    );
    expect(list.total).toBe(acknowledged);
    await again.stop();
  });
});
