import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';

/**
 * The whole schema, written with TypeORM's portable schema API so the same
 * migration creates it on SQLite and PostgreSQL. Timestamps are ISO 8601 UTC
 * strings (`2026-11-28T17:13:03.123Z`): portable and ordered as text.
 */
export class InitialSchema1764300000000 implements MigrationInterface {
  name = 'InitialSchema1764300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    const ts = (name: string) => ({ name, type: 'varchar', length: '32', isNullable: false });

    await queryRunner.createTable(
      new Table({
        name: 'users',
        columns: [
          { name: 'id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'email', type: 'varchar', length: '320' },
          { name: 'role', type: 'varchar', length: '16' },
          ts('created_at'),
          ts('updated_at'),
        ],
        indices: [new TableIndex({ name: 'idx_users_email', columnNames: ['email'] })],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'models',
        columns: [
          { name: 'id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'base_model_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'is_active', type: 'boolean' },
          ts('created_at'),
          ts('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'idx_models_base_model_id', columnNames: ['base_model_id'] }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'organizations',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'name', type: 'varchar', length: '255' },
          { name: 'external_user', type: 'varchar', length: '64' },
          { name: 'is_active', type: 'boolean' },
          { name: 'auto_grant_new_models', type: 'boolean' },
          ts('created_at'),
          ts('updated_at'),
        ],
        indices: [
          new TableIndex({
            name: 'uq_organizations_external_user',
            columnNames: ['external_user'],
            isUnique: true,
          }),
          new TableIndex({
            name: 'idx_organizations_auto_grant',
            columnNames: ['auto_grant_new_models'],
          }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'organization_members',
        columns: [
          { name: 'organization_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'role', type: 'varchar', length: '16' },
          { name: 'is_active', type: 'boolean' },
          ts('joined_at'),
          ts('updated_at'),
        ],
        indices: [new TableIndex({ name: 'idx_members_user_id', columnNames: ['user_id'] })],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_members_organization',
            columnNames: ['organization_id'],
            referencedTableName: 'organizations',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          }),
          new TableForeignKey({
            name: 'fk_members_user',
            columnNames: ['user_id'],
            referencedTableName: 'users',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'organization_models',
        columns: [
          { name: 'organization_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'model_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'is_active', type: 'boolean' },
          ts('created_at'),
          ts('updated_at'),
        ],
        indices: [new TableIndex({ name: 'idx_grants_model_id', columnNames: ['model_id'] })],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_grants_organization',
            columnNames: ['organization_id'],
            referencedTableName: 'organizations',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'audit_events',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'actor', type: 'varchar', length: '300' },
          { name: 'action', type: 'varchar', length: '64' },
          { name: 'target_type', type: 'varchar', length: '32' },
          { name: 'target_id', type: 'varchar', length: '600' },
          { name: 'before', type: 'text', isNullable: true },
          { name: 'after', type: 'text', isNullable: true },
          ts('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'idx_audit_actor', columnNames: ['actor', 'created_at'] }),
          new TableIndex({
            name: 'idx_audit_target',
            columnNames: ['target_type', 'target_id', 'created_at'],
          }),
          new TableIndex({ name: 'idx_audit_created_at', columnNames: ['created_at'] }),
        ],
      }),
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [
      'audit_events',
      'organization_models',
      'organization_members',
      'organizations',
      'models',
      'users',
    ]) {
      await queryRunner.dropTable(table, true);
    }
  }
}
