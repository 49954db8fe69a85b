import { Column, Entity, ValueTransformer } from 'typeorm';
import {
  FlagColumn,
  NameColumn,
  OrganizationIdColumn,
  TimestampColumn,
} from '../../common/columns';

/** A string[] kept as JSON text (portable across SQLite and PostgreSQL). */
const jsonList: ValueTransformer = {
  to: (value: string[] | undefined) => (value === undefined ? undefined : JSON.stringify(value)),
  from: (text: string | null) => (text ? (JSON.parse(text) as string[]) : []),
};

@Entity('organizations')
export class OrganizationEntity {
  @OrganizationIdColumn({ primary: true, name: 'id' })
  id: string;

  @NameColumn()
  name: string;

  @Column({ name: 'external_user', type: 'varchar', length: 64 })
  externalUser: string;

  @FlagColumn('is_active')
  isActive: boolean;

  @FlagColumn('auto_grant_new_models')
  autoGrantNewModels: boolean;

  /** Lowercase domains whose users join this organization (set by site admins). */
  @Column({ name: 'email_domains', type: 'text', transformer: jsonList })
  emailDomains: string[];

  @TimestampColumn('created_at')
  createdAt: string;

  @TimestampColumn('updated_at')
  updatedAt: string;
}
