import { Column, Entity, PrimaryColumn, ValueTransformer } from 'typeorm';

/** A string[] kept as JSON text (portable across SQLite and PostgreSQL). */
const jsonList: ValueTransformer = {
  to: (value: string[] | undefined) => (value === undefined ? undefined : JSON.stringify(value)),
  from: (text: string | null) => (text ? (JSON.parse(text) as string[]) : []),
};

@Entity('organizations')
export class OrganizationEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  @Column({ name: 'external_user', type: 'varchar', length: 64 })
  externalUser: string;

  @Column({ name: 'is_active', type: 'boolean' })
  isActive: boolean;

  @Column({ name: 'auto_grant_new_models', type: 'boolean' })
  autoGrantNewModels: boolean;

  /** Lowercase domains whose users join this organization (set by site admins). */
  @Column({ name: 'email_domains', type: 'text', transformer: jsonList })
  emailDomains: string[];

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'updated_at', type: 'varchar', length: 32 })
  updatedAt: string;
}
