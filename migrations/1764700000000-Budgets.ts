import { MigrationInterface, QueryRunner, Table, TableColumn, TableForeignKey } from 'typeorm';

/**
 * Budgets and rate limits. Settings live on organizations and memberships; spend lives in
 * `budget_spend`, one row per (organization, user or '' for the organization itself, period
 * start), in integer nano-dollars (1e-9 USD) so the conditional reservation statement is
 * exact on both databases. A new period gets new rows: nothing ever resets spend.
 * `budget_alerts` holds one row per (organization, period, threshold): inserting it is how a
 * replica claims the right to send that alert, so each one goes out once.
 */
export class Budgets1764700000000 implements MigrationInterface {
  name = 'Budgets1764700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    const money = (name: string) =>
      new TableColumn({ name, type: 'decimal', precision: 18, scale: 9, isNullable: true });
    const limit = (name: string) => new TableColumn({ name, type: 'bigint', isNullable: true });

    await queryRunner.addColumns('organizations', [
      money('budget_usd'),
      new TableColumn({
        name: 'budget_period',
        type: 'varchar',
        length: '16',
        default: "'monthly'",
      }),
      new TableColumn({
        name: 'alert_thresholds',
        type: 'varchar',
        length: '255',
        default: "'[]'",
      }),
      new TableColumn({ name: 'allow_unpriced_models', type: 'boolean', default: false }),
      limit('rpm_limit'),
      limit('tpm_limit'),
    ]);
    await queryRunner.addColumns('organization_members', [
      money('budget_usd'),
      limit('rpm_limit'),
      limit('tpm_limit'),
    ]);

    const ts = (name: string, isNullable = false) => ({
      name,
      type: 'varchar',
      length: '32',
      isNullable,
    });
    const cascadeToOrganization = (name: string) =>
      new TableForeignKey({
        name,
        columnNames: ['organization_id'],
        referencedTableName: 'organizations',
        referencedColumnNames: ['id'],
        onDelete: 'CASCADE',
      });

    await queryRunner.createTable(
      new Table({
        name: 'budget_spend',
        columns: [
          { name: 'organization_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'period_start', type: 'varchar', length: '32', isPrimary: true },
          { name: 'spent_nanos', type: 'bigint', default: 0 },
          { name: 'reserved_nanos', type: 'bigint', default: 0 },
          ts('updated_at'),
        ],
        foreignKeys: [cascadeToOrganization('fk_budget_spend_organization')],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'budget_alerts',
        columns: [
          { name: 'organization_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'period_start', type: 'varchar', length: '32', isPrimary: true },
          { name: 'threshold', type: 'varchar', length: '16', isPrimary: true },
          { name: 'budget_usd', type: 'decimal', precision: 18, scale: 9 },
          { name: 'spent_usd', type: 'decimal', precision: 18, scale: 9 },
          ts('fired_at'),
          { name: 'attempts', type: 'integer', default: 0 },
          ts('delivered_at', true),
        ],
        foreignKeys: [cascadeToOrganization('fk_budget_alerts_organization')],
      }),
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('budget_alerts', true);
    await queryRunner.dropTable('budget_spend', true);
    for (const column of ['tpm_limit', 'rpm_limit', 'budget_usd']) {
      await queryRunner.dropColumn('organization_members', column);
    }
    for (const column of [
      'tpm_limit',
      'rpm_limit',
      'allow_unpriced_models',
      'alert_thresholds',
      'budget_period',
      'budget_usd',
    ]) {
      await queryRunner.dropColumn('organizations', column);
    }
  }
}
