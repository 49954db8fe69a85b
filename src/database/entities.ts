import { AuditEventEntity } from '../audit/entities/audit-event.entity';
import { ModelEntity } from '../catalog/entities/model.entity';
import { MembershipEntity } from '../memberships/entities/membership.entity';
import { GrantEntity } from '../model-access/entities/grant.entity';
import { OrganizationEntity } from '../organizations/entities/organization.entity';
import { UsageEventEntity } from '../usage/entities/usage-event.entity';
import { UserEntity } from '../users/entities/user.entity';

export const ENTITIES = [
  UserEntity,
  ModelEntity,
  OrganizationEntity,
  MembershipEntity,
  GrantEntity,
  AuditEventEntity,
  UsageEventEntity,
];
