import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueryFailedError } from 'typeorm';
import { databaseErrorCode, databaseErrorKind, isBusyError } from './database-errors';

/** The error a statement really raises on SQLite (better-sqlite3), caught. */
function sqliteError(db: Database.Database, sql: string): unknown {
  try {
    db.exec(sql);
  } catch (error) {
    return error;
  }
  throw new Error(`expected ${sql} to fail`);
}

describe(databaseErrorKind.name, () => {
  let db: Database.Database;

  beforeAll(() => {
    db = new Database(':memory:');
    db.exec(`PRAGMA foreign_keys = ON;
      CREATE TABLE parent (id TEXT PRIMARY KEY, name TEXT UNIQUE);
      CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent(id));
      INSERT INTO parent VALUES ('p1', 'one');`);
  });
  afterAll(() => db.close());

  it('classifies the constraint errors SQLite really raises, bare or wrapped by TypeORM', () => {
    const duplicateKey = sqliteError(db, "INSERT INTO parent VALUES ('p1', 'other')");
    const duplicateValue = sqliteError(db, "INSERT INTO parent VALUES ('p2', 'one')");
    const missingParent = sqliteError(db, "INSERT INTO child VALUES ('c1', 'nobody')");
    expect(databaseErrorKind(duplicateKey)).toBe('unique');
    expect(databaseErrorKind(duplicateValue)).toBe('unique');
    expect(databaseErrorKind(missingParent)).toBe('foreign_key');
    const wrapped = new QueryFailedError('INSERT ...', [], missingParent as Error);
    expect(databaseErrorCode(wrapped)).toBe('SQLITE_CONSTRAINT_FOREIGNKEY');
    expect(databaseErrorKind(wrapped)).toBe('foreign_key');
  });

  it('classifies a locked SQLite database as busy', () => {
    const file = join(tmpdir(), `database-errors-${process.pid}.db`);
    const holder = new Database(file);
    const other = new Database(file, { timeout: 0 });
    try {
      holder.exec('CREATE TABLE IF NOT EXISTS t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);');
      const busy = sqliteError(other, 'BEGIN IMMEDIATE');
      expect(isBusyError(busy)).toBe(true);
      holder.exec('ROLLBACK');
    } finally {
      other.close();
      holder.close();
      rmSync(file, { force: true });
    }
  });

  it('classifies PostgreSQL SQLSTATEs (as pg reports them in `code`)', () => {
    const pg = (code: string) => Object.assign(new Error('pg'), { code });
    expect(databaseErrorKind(pg('23505'))).toBe('unique');
    expect(databaseErrorKind(pg('23503'))).toBe('foreign_key');
    expect(databaseErrorKind(pg('55P03'))).toBe('busy');
    expect(databaseErrorKind(pg('40001'))).toBe('retryable');
    expect(databaseErrorKind(pg('40P01'))).toBe('retryable');
  });

  it('leaves everything else unclassified, by code and never by message text', () => {
    expect(databaseErrorKind(new Error('UNIQUE constraint failed: parent.id'))).toBeNull();
    expect(databaseErrorKind(sqliteError(db, 'SELECT * FROM no_such_table'))).toBeNull();
    expect(databaseErrorKind(null)).toBeNull();
    expect(databaseErrorKind({ code: 42 })).toBeNull();
  });
});
