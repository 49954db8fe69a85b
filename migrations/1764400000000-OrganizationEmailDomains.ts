import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * organizations.email_domains: a JSON array of lowercase domains (`["acme.pl"]`). Users whose
 * email domain is listed join the organization when first seen (or when their email changes
 * or they are approved), and its admins may add them. Existing organizations get `[]`.
 */
export class OrganizationEmailDomains1764400000000 implements MigrationInterface {
  name = 'OrganizationEmailDomains1764400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'organizations',
      new TableColumn({ name: 'email_domains', type: 'text', isNullable: false, default: "'[]'" }),
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('organizations', 'email_domains');
  }
}
