import { Client } from 'pg';
import { CorkedClient } from '../src/database/corked-pg-client';
import { POSTGRES_URL } from './support/test-database';

/** The pool's client (data-source.ts) against the machine's PostgreSQL, in both passes. */
const URL = POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

type Socket = { _write: (...a: unknown[]) => unknown; _writev?: (...a: unknown[]) => unknown };

/** Counts the writes that reach the socket (one system call each) while fn runs. */
async function socketWrites(client: Client, fn: () => Promise<unknown>): Promise<number> {
  const stream = (client as unknown as { connection: { stream: Socket } }).connection.stream;
  let writes = 0;
  const write = stream._write.bind(stream);
  const writev = stream._writev?.bind(stream);
  stream._write = (...a) => (writes++, write(...a));
  if (writev) {
    stream._writev = (...a) => (writes++, writev(...a));
  }
  try {
    await fn();
  } finally {
    stream._write = write;
    if (writev) {
      stream._writev = writev;
    }
  }
  return writes;
}

describe('CorkedClient (PostgreSQL client of the pool)', () => {
  const clients: Client[] = [];
  const connect = async (Kind: typeof Client) => {
    const client = new Kind({ connectionString: URL, pipeline: true } as never);
    clients.push(client);
    await client.connect();
    return client;
  };

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
  });

  const transaction = (client: Client) =>
    Promise.all([
      client.query('BEGIN'),
      client.query('SELECT $1::int AS x', [1]),
      client.query({ text: 'SELECT $1::text AS y', values: ['two'] }),
      client.query('COMMIT'),
    ]);

  it("sends a tick's statements in one socket write, where pg writes each message", async () => {
    const corked = await connect(CorkedClient);
    const plain = await connect(Client);

    const corkedWrites = await socketWrites(corked, () => transaction(corked));
    const plainWrites = await socketWrites(plain, () => transaction(plain));

    expect(corkedWrites).toBe(1);
    expect(plainWrites).toBeGreaterThan(1);
  });

  it('answers each statement as pg does, in order, callbacks included', async () => {
    const client = await connect(CorkedClient);

    const answers = await transaction(client);
    const viaCallback = await new Promise((resolve, reject) =>
      client.query('SELECT 3 AS z', (error: Error | null, result: { rows: unknown[] }) =>
        error ? reject(error) : resolve(result.rows),
      ),
    );

    expect(answers.map((a) => [a.command, a.rows])).toEqual([
      ['BEGIN', []],
      ['SELECT', [{ x: 1 }]],
      ['SELECT', [{ y: 'two' }]],
      ['COMMIT', []],
    ]);
    expect(viaCallback).toEqual([{ z: 3 }]);
  });

  it('fails the failing statement and those after it in the transaction, as pg does', async () => {
    const client = await connect(CorkedClient);

    const answers = await Promise.allSettled([
      client.query('BEGIN'),
      client.query('SELECT 1/0 AS boom'),
      client.query('SELECT 1 AS after'),
      client.query('ROLLBACK'),
    ]);
    const after = await client.query('SELECT 2 AS fine');

    expect(answers.map((a) => a.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    expect(String((answers[1] as PromiseRejectedResult).reason)).toContain('division by zero');
    expect(after.rows).toEqual([{ fine: 2 }]);
  });
});
