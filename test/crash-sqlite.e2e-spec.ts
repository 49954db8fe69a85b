import Database from 'better-sqlite3';
import { ServerProcess } from './support/server-process';
import { createTestDatabase, onPostgres, TestDatabase } from './support/test-database';
import { ADMIN_KEY, enc, WEBUI_SECRET } from './support/test-app';

/**
 * Crash safety on SQLite: the built server (dist/src/main.js) takes a stream of writes over
 * real HTTP and is killed with SIGKILL in the middle of it, several times. After each kill the
 * database file passes PRAGMA integrity_check and holds every write the server acknowledged
 * (with its audit event); the server boots again on it.
 */

const CYCLES = Number(process.env.CRASH_CYCLES ?? 5);
const STREAMS = 8;

interface Ack {
  user: string;
  membership: boolean;
}

// SQLite-specific (the file, its WAL and PRAGMA integrity_check): runs in the SQLite pass of CI only.
const describeOnSqlite = onPostgres() ? describe.skip : describe;

describeOnSqlite('crash safety (SIGKILL mid-stream, SQLite)', () => {
  let db: TestDatabase;
  let server: ServerProcess | null = null;
  const env = () => ({
    DATABASE_URL: db.url,
    ADMIN_API_KEYS: ADMIN_KEY,
    WEBUI_SECRET_KEY: WEBUI_SECRET,
    LOG_LEVEL: 'info', // ServerProcess.ready() waits for the "listening" line
    AUTH_FAILURE_LIMIT: '100000',
  });

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await db.drop();
  });

  async function call(method: string, url: string, body?: unknown): Promise<number> {
    const res = await fetch(`${server!.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res.status;
  }

  let onAck: () => void = () => undefined;

  /** Resolves once acks holds at least n entries. */
  function threshold(acks: Ack[], n: number): Promise<void> {
    return new Promise((resolve) => {
      onAck = () => {
        if (acks.length >= n) {
          resolve();
        }
      };
      onAck();
    });
  }

  /** Writes until the connection dies; returns what the server acknowledged. */
  async function stream(cycle: number, s: number, acks: Ack[]): Promise<number> {
    let unacknowledged = 0;
    for (let n = 0; ; n++) {
      const user = `crash-${cycle}-${s}-${n}`;
      try {
        const created = await call('PUT', `/api/v1/users/${enc(user)}`, {
          name: user,
          email: `${user}@example.com`,
          role: 'user',
        });
        if (created !== 201) {
          throw new Error(`PUT user ${user} answered ${created}`);
        }
        const ack: Ack = { user, membership: false };
        acks.push(ack);
        onAck();
        const joined = await call('PUT', `/api/v1/organizations/crash-org/members/${enc(user)}`, {
          role: n % 2 === 0 ? 'member' : 'admin',
        });
        if (joined !== 201) {
          throw new Error(`PUT member ${user} answered ${joined}`);
        }
        ack.membership = true;
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('PUT')) {
          throw error;
        }
        unacknowledged++;
        return unacknowledged; // the server is gone
      }
    }
  }

  function inspect(): {
    integrity: string;
    users: Set<string>;
    members: Set<string>;
    audit: Map<string, number>;
  } {
    const sqlite = new Database(db.file);
    try {
      const integrity = (sqlite.pragma('integrity_check') as { integrity_check: string }[])
        .map((r) => r.integrity_check)
        .join('; ');
      const users = new Set(
        (
          sqlite.prepare(`SELECT id FROM users WHERE id LIKE 'crash-%'`).all() as { id: string }[]
        ).map((r) => r.id),
      );
      const members = new Set(
        (
          sqlite
            .prepare(`SELECT user_id FROM organization_members WHERE organization_id = 'crash-org'`)
            .all() as { user_id: string }[]
        ).map((r) => r.user_id),
      );
      const audit = new Map<string, number>();
      for (const row of sqlite
        .prepare(
          `SELECT action, target_id FROM audit_events WHERE action IN ('user.create', 'membership.create')`,
        )
        .all() as { action: string; target_id: string }[]) {
        const key = `${row.action}|${row.target_id}`;
        audit.set(key, (audit.get(key) ?? 0) + 1);
      }
      return { integrity, users, members, audit };
    } finally {
      sqlite.close();
    }
  }

  it(`survives ${CYCLES} SIGKILLs in the middle of a write stream without losing an acknowledged write`, async () => {
    const allAcks: Ack[] = [];
    const report: {
      cycle: number;
      acknowledged: number;
      in_flight_lost: number;
      killed_after_acks: number;
    }[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      server = await ServerProcess.start(env());
      await server.ready();
      if (cycle === 0) {
        expect(
          await call('POST', '/api/v1/organizations', {
            id: 'crash-org',
            name: 'Crash',
            external_user: 'ext_crash',
          }),
        ).toBe(201);
      } else {
        // The server came back on the killed database and still answers from it.
        expect(await call('GET', `/api/v1/users/${enc(allAcks[0].user)}`)).toBe(200);
      }
      const acks: Ack[] = [];
      const streams = Array.from({ length: STREAMS }, (_, s) => stream(cycle, s, acks));
      // Kill once writes are flowing, at a different point each cycle: after a number of
      // acknowledged writes, while the other streams are mid-request.
      const killAfter = 20 + ((cycle * 37) % 60);
      await threshold(acks, killAfter);
      const before = acks.length;
      await server.stop('SIGKILL');
      server = null;
      const lost = (await Promise.all(streams)).reduce((a, b) => a + b, 0);
      expect(before).toBeGreaterThan(0);
      allAcks.push(...acks);
      report.push({
        cycle,
        acknowledged: acks.length,
        in_flight_lost: lost,
        killed_after_acks: killAfter,
      });

      const state = inspect();
      expect(state.integrity).toBe('ok');
      const missingUsers = allAcks.filter((a) => !state.users.has(a.user)).map((a) => a.user);
      const missingMembers = allAcks
        .filter((a) => a.membership && !state.members.has(a.user))
        .map((a) => a.user);
      expect({ cycle, missingUsers, missingMembers }).toEqual({
        cycle,
        missingUsers: [],
        missingMembers: [],
      });
      // Each acknowledged write has exactly one audit event (written in the same transaction).
      const badAudit = allAcks.flatMap((a) => [
        ...(state.audit.get(`user.create|${a.user}`) === 1 ? [] : [`user.create ${a.user}`]),
        ...(a.membership && state.audit.get(`membership.create|crash-org/${a.user}`) !== 1
          ? [`membership.create ${a.user}`]
          : []),
      ]);
      expect(badAudit).toEqual([]);
    }
    // A last boot on the file after the final kill.
    server = await ServerProcess.start(env());
    await server.ready();
    expect(await call('GET', '/health')).toBe(200);
    await server.stop('SIGTERM');
    server = null;
    process.stdout.write(
      `crash: ${CYCLES} SIGKILL cycles survived; ${allAcks.length} user and ${allAcks.filter((a) => a.membership).length} membership writes acknowledged, all present with their audit events: ${JSON.stringify(report)}\n`,
    );
  }, 180_000);
});
