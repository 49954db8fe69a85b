import { Entity } from 'typeorm';
import {
  FlagColumn,
  ModelIdColumn,
  OrganizationIdColumn,
  TimestampColumn,
} from '../../common/columns';

/** A model granted to an organization: an exact catalog id or a prefix pattern ending in `*`. */
@Entity('organization_models')
export class GrantEntity {
  @OrganizationIdColumn({ primary: true })
  organizationId: string;

  @ModelIdColumn({ primary: true })
  modelId: string;

  @FlagColumn('is_active')
  isActive: boolean;

  @TimestampColumn('created_at')
  createdAt: string;

  @TimestampColumn('updated_at')
  updatedAt: string;
}
