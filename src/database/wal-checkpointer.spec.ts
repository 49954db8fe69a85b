import { Logger } from '@nestjs/common';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { RESTART_FRAMES, SQLITE_AUTOCHECKPOINT_PAGES, WalCheckpointer } from './wal-checkpointer';

/** A WAL-mode file with two connections, as the service has (the writer and the reader). */
function openDatabase(dir: string, pageSize = 4096) {
  const file = join(dir, 'app.db');
  const writer = new Database(file);
  writer.pragma(`page_size = ${pageSize}`);
  writer.pragma('journal_mode = WAL');
  writer.pragma('synchronous = NORMAL');
  writer.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  const reader = new Database(file);
  return { file, writer, reader };
}

/** Writes `transactions` commits of `rows` rows of `bytes` random bytes each. */
function writeBlobs(writer: Database.Database, transactions: number, rows: number, bytes: number) {
  const insert = writer.prepare('INSERT INTO blobs (body) VALUES (randomblob(?))');
  const commit = writer.transaction(() => {
    for (let i = 0; i < rows; i++) {
      insert.run(bytes);
    }
  });
  for (let t = 0; t < transactions; t++) {
    commit();
  }
}

const autocheckpoint = (connection: Database.Database): unknown =>
  connection.pragma('wal_autocheckpoint', { simple: true });

/** Waits for `condition`, polling, up to `ms`. */
async function eventually(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The thread behind a checkpointer, to end it as a crash would. */
const threadOf = (checkpointer: WalCheckpointer): Worker =>
  (checkpointer as unknown as { worker: Worker }).worker;

describe(WalCheckpointer.name, () => {
  let dir: string;
  let db: ReturnType<typeof openDatabase>;
  let checkpointer: WalCheckpointer | null;
  let warn: jest.SpyInstance;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wal-checkpointer-'));
    checkpointer = null;
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await checkpointer?.stop();
    db.reader.close();
    db.writer.close();
    rmSync(dir, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  const start = async (options: { intervalMs?: number; driver?: string } = {}) => {
    checkpointer = new WalCheckpointer({
      file: db.file,
      intervalMs: options.intervalMs ?? 50,
      connections: [db.writer, db.reader],
      driver: options.driver,
    });
    await checkpointer.start();
    return checkpointer;
  };

  it("turns off the connections' own checkpoints and copies the WAL back on its thread", async () => {
    db = openDatabase(dir);
    const sut = await start();
    expect(sut.state()).toMatchObject({ checkpoints_by: 'thread', reason: null });
    expect(autocheckpoint(db.writer)).toBe(0);
    expect(autocheckpoint(db.reader)).toBe(0);
    const before = statSync(db.file).size;

    // about 2,500 pages: past SQLite's 1,000, which the writer no longer checkpoints itself
    writeBlobs(db.writer, 50, 5, 40_000);

    // only a checkpoint writes pages into the database file itself
    await eventually(() => statSync(db.file).size >= before + 50 * 5 * 40_000);
    // Once the writes stop, a checkpoint copies the whole WAL back. The thread may have run
    // one during the last commits, which copies only the frames committed when it began.
    await eventually(() => {
      const last = sut.state().last_checkpoint;
      return (last?.wal_frames ?? 0) > 1000 && last?.checkpointed_frames === last?.wal_frames;
    });
    expect(sut.state().wal_bytes).toBeGreaterThan(0);
    expect(warn).not.toHaveBeenCalled();
  });

  it('runs a RESTART checkpoint when the WAL passed its bound, so that the next write restarts it', async () => {
    db = openDatabase(dir, 512);
    db.writer.pragma('wal_autocheckpoint = 0');
    writeBlobs(db.writer, 20, 1, (RESTART_FRAMES / 20 + 10) * 512);
    const sut = await start();
    await eventually(() => sut.state().forced_restarts === 1);
    expect(sut.state().last_checkpoint!.wal_frames).toBeGreaterThanOrEqual(RESTART_FRAMES);

    writeBlobs(db.writer, 1, 1, 10);
    await eventually(() => sut.state().last_checkpoint!.wal_frames < 10);
    expect(sut.state().forced_restarts).toBe(1);
  });

  it('holds writers off for a moment at most while a RESTART checkpoint waits for a reader', async () => {
    db = openDatabase(dir, 512);
    db.writer.pragma('wal_autocheckpoint = 0');
    // a reader on an old snapshot (another process's long read): frames past it cannot be
    // copied back, so the WAL cannot restart
    db.reader.exec('BEGIN');
    db.reader.prepare('SELECT count(*) FROM blobs').get();
    writeBlobs(db.writer, 20, 1, (RESTART_FRAMES / 20 + 10) * 512);
    const sut = await start();
    await eventually(() => sut.state().forced_restarts >= 1);

    // each write lands while the thread tries a RESTART again (the WAL grew past its bound)
    let slowest = 0;
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      writeBlobs(db.writer, 1, 1, 100);
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    expect(sut.state().forced_restarts).toBeGreaterThan(1);
    // RESTART_BUSY_TIMEOUT_MS and the writer's own busy handler's sleeps, not seconds
    expect(slowest).toBeLessThan(500);
    db.reader.exec('COMMIT');
  });

  it('hands checkpoints back to SQLite, with a warning, when the thread dies', async () => {
    db = openDatabase(dir);
    const sut = await start();
    expect(autocheckpoint(db.writer)).toBe(0);

    await threadOf(sut).terminate();

    await eventually(() => sut.state().checkpoints_by === 'sqlite');
    expect(autocheckpoint(db.writer)).toBe(SQLITE_AUTOCHECKPOINT_PAGES);
    expect(autocheckpoint(db.reader)).toBe(SQLITE_AUTOCHECKPOINT_PAGES);
    expect(sut.state().reason).toMatch(/exited with code/);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/SQLite checkpoints inside commits/));
  });

  it('leaves checkpoints to SQLite, with a warning, when the thread cannot start', async () => {
    db = openDatabase(dir);
    const sut = await start({ driver: join(dir, 'no-such-driver.js') });

    expect(sut.running).toBe(false);
    expect(sut.state().reason).toMatch(/no-such-driver/);
    expect(autocheckpoint(db.writer)).toBe(SQLITE_AUTOCHECKPOINT_PAGES);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/did not start/));
  });

  it('stops the thread and hands checkpoints back before the connections close', async () => {
    db = openDatabase(dir);
    const sut = await start();
    const thread = threadOf(sut);
    expect(thread.threadId).toBeGreaterThan(0);

    await sut.stop();

    expect(thread.threadId).toBe(-1); // Node's mark of a thread that is no longer running
    expect(sut.state()).toMatchObject({ checkpoints_by: 'sqlite', reason: 'stopped' });
    expect(autocheckpoint(db.writer)).toBe(SQLITE_AUTOCHECKPOINT_PAGES);
    expect(autocheckpoint(db.reader)).toBe(SQLITE_AUTOCHECKPOINT_PAGES);
    expect(warn).not.toHaveBeenCalled();
    await sut.stop(); // a second stop (the module's and a test's) is harmless
  });
});
