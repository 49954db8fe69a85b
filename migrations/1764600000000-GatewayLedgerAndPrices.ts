import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

/**
 * The gateway's usage ledger (one row per call forwarded upstream) and the catalog's prices
 * and limits (filled by the catalog sync from the upstream's /models, or set by an admin).
 * Prices are USD per token. The ledger has no foreign keys: its rows outlive the users,
 * organizations and models they name.
 */
export class GatewayLedgerAndPrices1764600000000 implements MigrationInterface {
  name = 'GatewayLedgerAndPrices1764600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('models', [
      new TableColumn({ name: 'prompt_price_usd', type: 'double precision', isNullable: true }),
      new TableColumn({ name: 'completion_price_usd', type: 'double precision', isNullable: true }),
      new TableColumn({ name: 'context_length', type: 'integer', isNullable: true }),
      new TableColumn({ name: 'max_completion_tokens', type: 'integer', isNullable: true }),
    ]);

    await queryRunner.createTable(
      new Table({
        name: 'usage_events',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'created_at', type: 'varchar', length: '32' },
          { name: 'organization_id', type: 'varchar', length: '64' },
          { name: 'user_id', type: 'varchar', length: '255' },
          { name: 'model_id', type: 'varchar', length: '255' },
          { name: 'openrouter_user', type: 'varchar', length: '128' },
          { name: 'endpoint', type: 'varchar', length: '32' },
          { name: 'generation_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'http_status', type: 'integer' },
          { name: 'prompt_tokens', type: 'integer', isNullable: true },
          { name: 'completion_tokens', type: 'integer', isNullable: true },
          { name: 'cost_usd', type: 'double precision', isNullable: true },
          { name: 'latency_ms', type: 'integer' },
          { name: 'ttft_ms', type: 'integer', isNullable: true },
          { name: 'streamed', type: 'boolean' },
          { name: 'request_id', type: 'varchar', length: '128' },
        ],
        indices: [
          new TableIndex({
            name: 'idx_usage_organization_created',
            columnNames: ['organization_id', 'created_at'],
          }),
          new TableIndex({
            name: 'idx_usage_user_created',
            columnNames: ['user_id', 'created_at'],
          }),
          new TableIndex({ name: 'idx_usage_created', columnNames: ['created_at'] }),
        ],
      }),
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('usage_events', true);
    for (const column of [
      'max_completion_tokens',
      'context_length',
      'completion_price_usd',
      'prompt_price_usd',
    ]) {
      await queryRunner.dropColumn('models', column);
    }
  }
}
