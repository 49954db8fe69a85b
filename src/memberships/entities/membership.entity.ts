import { Column, Entity } from 'typeorm';
import {
  FlagColumn,
  OrganizationIdColumn,
  TimestampColumn,
  UserIdColumn,
} from '../../common/columns';

export const MEMBER_ROLES = ['member', 'admin'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

@Entity('organization_members')
export class MembershipEntity {
  @OrganizationIdColumn({ primary: true })
  organizationId: string;

  @UserIdColumn({ primary: true })
  userId: string;

  @Column({ type: 'varchar', length: 16 })
  role: MemberRole;

  @FlagColumn('is_active')
  isActive: boolean;

  @TimestampColumn('joined_at')
  joinedAt: string;

  @TimestampColumn('updated_at')
  updatedAt: string;
}
