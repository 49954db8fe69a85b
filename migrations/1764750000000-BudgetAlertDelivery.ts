import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Budget alert delivery survives a replica going away. `payload` keeps the exact JSON body of
 * the alert (so any replica can send it again, byte for byte, with the same signature);
 * `next_attempt_at` is when the next attempt is due (ISO 8601 UTC; null: nothing more to
 * try). A replica takes an attempt by raising `attempts` with a conditional UPDATE, so two
 * replicas never send the same attempt; one that stops hands its pending alerts over, and
 * one that crashed leaves them due once its lease runs out. Every replica looks for due alerts
 * every few seconds; the index keeps that a short range scan (delivered alerts have no
 * next_attempt_at and are not in its range).
 */
export class BudgetAlertDelivery1764750000000 implements MigrationInterface {
  name = 'BudgetAlertDelivery1764750000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('budget_alerts', [
      new TableColumn({ name: 'payload', type: 'text', isNullable: true }),
      new TableColumn({ name: 'next_attempt_at', type: 'varchar', length: '32', isNullable: true }),
    ]);
    await queryRunner.createIndex(
      'budget_alerts',
      new TableIndex({ name: 'idx_budget_alerts_next_attempt', columnNames: ['next_attempt_at'] }),
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('budget_alerts', 'idx_budget_alerts_next_attempt');
    await queryRunner.dropColumn('budget_alerts', 'next_attempt_at');
    await queryRunner.dropColumn('budget_alerts', 'payload');
  }
}
