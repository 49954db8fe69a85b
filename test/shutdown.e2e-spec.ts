import { request as httpRequest } from 'node:http';
import { ADMIN_KEY } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { ServerProcess } from './support/server-process';

/**
 * A PUT of a user whose headers the server has received (it answered `100 Continue`, so the
 * request is in its hands) and whose body is sent only when `finish` is called.
 */
async function heldPut(base: string, id: string): Promise<{ finish: () => Promise<number> }> {
  const payload = JSON.stringify({ name: 'Held', email: `${id}@example.com`, role: 'user' });
  const req = httpRequest(`${base}/api/v1/users/${id}`, {
    method: 'PUT',
    agent: false,
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      expect: '100-continue',
    },
  });
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  const received = new Promise<void>((resolve, reject) => {
    req.on('continue', () => resolve());
    req.on('error', reject);
  });
  req.flushHeaders();
  await received;
  return {
    finish: () => {
      req.end(payload);
      return status;
    },
  };
}

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
    // Requests certainly in flight: the server holds their headers when the signal arrives,
    // and their bodies are sent only once the server has been shutting down for a while.
    // They must still be answered. Eight connections: where the port is shared between
    // listening sockets (LISTEN_SOCKETS), some land on each of several sockets.
    const held = await Promise.all(
      Array.from({ length: 8 }, (_, i) => heldPut(server.url, `u-held-${i}`)),
    );
    const inFlight = Array.from({ length: 50 }, (_, i) => put(i + 1));
    await new Promise((resolve) => setImmediate(resolve));
    const exited = server.stop('SIGTERM');
    await server.logged('"msg":"shutting down"');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const heldStatuses = await Promise.all(held.map((h) => h.finish()));
    const code = await exited;
    const outcomes = [
      first,
      ...heldStatuses.map((status) => ({ status })),
      ...(await Promise.all(inFlight)),
    ];
    expect(heldStatuses).toEqual(Array<number>(8).fill(201));
    expect(code).toBe(0);
    const log = server.output.join('');
    expect(log).toContain('"msg":"shutting down"');
    expect(log).toContain('database connection closed');
    // Every other request completed, was answered 503, or was refused before it started.
    for (const outcome of outcomes) {
      if ('status' in outcome) {
        expect([201, 503]).toContain(outcome.status);
      } else {
        expect(outcome.refused).toMatch(/fetch failed|ECONNREFUSED|ECONNRESET|socket/i);
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
