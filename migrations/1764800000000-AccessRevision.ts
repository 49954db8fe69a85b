import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * SQLite only: the access revision counter (one row), raised by every write that changes
 * something and sent to clients as X-Access-Revision (src/database/revisions.ts).
 * PostgreSQL numbers writes by their transaction ids instead, so that no row is shared by
 * all writes; nothing is created there.
 */
export class AccessRevision1764800000000 implements MigrationInterface {
  name = 'AccessRevision1764800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type === 'postgres') {
      return;
    }
    await queryRunner.query(
      'CREATE TABLE access_revision (id integer PRIMARY KEY CHECK (id = 1), value integer NOT NULL)',
    );
    await queryRunner.query('INSERT INTO access_revision (id, value) VALUES (1, 0)');
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type === 'postgres') {
      return;
    }
    await queryRunner.query('DROP TABLE access_revision');
  }
}
