import { Injectable, NotFoundException } from '@nestjs/common';
import { AccessCacheService } from '../model-access/access-cache.service';
import { UserAccess } from '../model-access/access-rule';
import {
  MembershipDiagnosis,
  ModelAccessHealthResponse,
  ModelAccessStatus,
} from './dto/model-access-health.dto';

const DETAILS: Record<ModelAccessStatus, string> = {
  pending:
    'The user is pending approval in the web UI and may use no model: approve them (role user or admin) first.',
  no_organization:
    'The user belongs to no organization: add them as a member (PUT /api/v1/organizations/{orgId}/members/{userId}).',
  inactive:
    'Every membership is suspended or in an archived organization: reactivate the membership or the organization.',
  no_models:
    'An active membership exists but its organizations grant no active catalog model: grant models or patterns, or activate the granted models.',
  healthy: 'The user may use the models listed.',
};

/** Explains why a user sees the models they see, from the same data the access rule reads. */
@Injectable()
export class ModelAccessDiagnosisService {
  constructor(private readonly cache: AccessCacheService) {}

  async diagnose(userId: string): Promise<ModelAccessHealthResponse> {
    const view = await this.cache.view(userId);
    if (!view.user) {
      throw new NotFoundException(`User "${userId}" was not found.`);
    }
    const status = statusOf(view.access);
    return {
      user_id: userId,
      status,
      detail: DETAILS[status],
      memberships: view.access.memberships.map((m): MembershipDiagnosis => ({
        organization_id: m.organizationId,
        organization_name: m.organizationName,
        role: m.role,
        is_active: m.isActive,
        organization_active: m.organizationActive,
        usable: !view.access.pending && m.isActive && m.organizationActive,
      })),
      models: view.access.sortedModelIds().map((id) => ({
        id,
        organizations: (view.access.models.get(id) ?? []).map((o) => o.id),
      })),
    };
  }
}

export function statusOf(access: UserAccess): ModelAccessStatus {
  if (access.pending) {
    return 'pending';
  }
  if (access.memberships.length === 0) {
    return 'no_organization';
  }
  if (!access.memberships.some((m) => m.isActive && m.organizationActive)) {
    return 'inactive';
  }
  return access.models.size === 0 ? 'no_models' : 'healthy';
}
