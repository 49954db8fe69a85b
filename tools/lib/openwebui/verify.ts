import { EntityManager } from 'typeorm';
import { AuditEventEntity } from '../../../src/audit/entities/audit-event.entity';
import { ModelEntity } from '../../../src/catalog/entities/model.entity';
import { MembershipEntity } from '../../../src/memberships/entities/membership.entity';
import { GrantEntity } from '../../../src/model-access/entities/grant.entity';
import { OrganizationEntity } from '../../../src/organizations/entities/organization.entity';
import { UserEntity } from '../../../src/users/entities/user.entity';
import { selectIn } from '../batch';
import { ToolError } from '../cli';
import { MigrationPlan } from './plan';
import { EXIT_VERIFICATION, MIGRATION_ACTOR } from './report';

/** Users by id, read with plain set-based SELECTs (no entity hydration on 50,000 rows). */
export async function selectUsers(
  tx: EntityManager,
  kind: 'sqlite' | 'postgres',
  ids: string[],
): Promise<UserEntity[]> {
  const rows = await selectIn<Record<string, unknown>>(
    tx,
    kind,
    (list) =>
      `SELECT id, name, email, role, created_at, updated_at FROM users WHERE id IN (${list})`,
    ids,
  );
  return rows.map((r) => ({
    id: String(r.id),
    name: String(r.name),
    email: String(r.email),
    role: String(r.role) as UserEntity['role'],
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  }));
}

export async function selectModels(
  tx: EntityManager,
  kind: 'sqlite' | 'postgres',
  ids: string[],
): Promise<ModelEntity[]> {
  const rows = await selectIn<Record<string, unknown>>(
    tx,
    kind,
    (list) =>
      `SELECT id, name, base_model_id, is_active, prompt_price_usd, completion_price_usd, context_length, max_completion_tokens, created_at, updated_at FROM models WHERE id IN (${list})`,
    ids,
  );
  return rows.map((r) => ({
    id: String(r.id),
    name: String(r.name),
    baseModelId: r.base_model_id === null ? null : String(r.base_model_id),
    isActive: r.is_active === true || Number(r.is_active) === 1,
    promptPriceUsd: nullableNumber(r.prompt_price_usd),
    completionPriceUsd: nullableNumber(r.completion_price_usd),
    contextLength: nullableNumber(r.context_length),
    maxCompletionTokens: nullableNumber(r.max_completion_tokens),
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  }));
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

export interface Expectations {
  orgId: string;
  name: string;
  externalUser: string;
  plan: MigrationPlan;
  membersBefore: number;
  membersCreated: number;
  grantsBefore: number;
  grantsCreated: number;
  auditBefore: number;
  auditWritten: number;
}

/**
 * Reads back what the transaction wrote and compares it with the plan; any difference
 * throws, which rolls the whole transaction back.
 */
export async function verify(
  tx: EntityManager,
  kind: 'sqlite' | 'postgres',
  e: Expectations,
): Promise<void> {
  const problems: string[] = [];
  const org = await tx.getRepository(OrganizationEntity).findOne({ where: { id: e.orgId } });
  if (!org || org.externalUser !== e.externalUser || org.name !== e.name) {
    problems.push(`organization "${e.orgId}" is missing or differs`);
  }
  let usersFound = 0;
  const wanted = new Map(e.plan.users.map((u) => [u.id, u]));
  for (const u of await selectUsers(tx, kind, [...wanted.keys()])) {
    const w = wanted.get(u.id)!;
    if (u.name === w.name && u.email === w.email && u.role === w.role) {
      usersFound++;
    }
  }
  if (usersFound !== wanted.size) {
    problems.push(`users: ${usersFound} of ${wanted.size} present with the source's values`);
  }
  const memberIds = new Set(
    (
      await tx
        .getRepository(MembershipEntity)
        .find({ where: { organizationId: e.orgId }, select: { userId: true } })
    ).map((m) => m.userId),
  );
  const membersPresent = e.plan.members.filter((m) => memberIds.has(m.userId)).length;
  if (membersPresent !== e.plan.members.length) {
    problems.push(
      `memberships: ${membersPresent} of ${e.plan.members.length} expected members present`,
    );
  }
  if (memberIds.size !== e.membersBefore + e.membersCreated) {
    problems.push(
      `memberships: ${memberIds.size} in "${e.orgId}", expected ${e.membersBefore} before + ${e.membersCreated} created`,
    );
  }
  let modelsFound = 0;
  const wantedModels = new Map(e.plan.models.map((m) => [m.id, m]));
  for (const m of await selectModels(tx, kind, [...wantedModels.keys()])) {
    const w = wantedModels.get(m.id)!;
    if (m.name === w.name && m.isActive === w.isActive && m.baseModelId === null) {
      modelsFound++;
    }
  }
  if (modelsFound !== wantedModels.size) {
    problems.push(
      `models: ${modelsFound} of ${wantedModels.size} present with the source's values`,
    );
  }
  const grantIds = new Set(
    (
      await tx
        .getRepository(GrantEntity)
        .find({ where: { organizationId: e.orgId }, select: { modelId: true } })
    ).map((g) => g.modelId),
  );
  const grantsPresent = e.plan.models.filter((m) => grantIds.has(m.id)).length;
  if (grantsPresent !== e.plan.models.length) {
    problems.push(`grants: ${grantsPresent} of ${e.plan.models.length} expected grants present`);
  }
  if (grantIds.size !== e.grantsBefore + e.grantsCreated) {
    problems.push(
      `grants: ${grantIds.size} in "${e.orgId}", expected ${e.grantsBefore} before + ${e.grantsCreated} created`,
    );
  }
  const auditAfter = await tx
    .getRepository(AuditEventEntity)
    .count({ where: { actor: MIGRATION_ACTOR } });
  if (auditAfter !== e.auditBefore + e.auditWritten) {
    problems.push(
      `audit events: ${auditAfter - e.auditBefore} written, expected ${e.auditWritten}`,
    );
  }
  if (problems.length > 0) {
    throw new ToolError(
      `verification failed; everything was rolled back:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      EXIT_VERIFICATION,
    );
  }
}
