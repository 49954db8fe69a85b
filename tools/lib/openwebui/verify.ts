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

export interface OrganizationExpectation {
  id: string;
  membersBefore: number;
  membersCreated: number;
  membersRemoved: number;
  grantsBefore: number;
  grantsCreated: number;
  grantsRemoved: number;
}

export interface Expectations {
  plan: MigrationPlan;
  organizations: OrganizationExpectation[];
  /** Users deleted by --prune: they must be gone. */
  deletedUsers: string[];
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
  const stillThere = await selectUsers(tx, kind, e.deletedUsers);
  if (stillThere.length > 0) {
    problems.push(`users: ${stillThere.length} deleted in Open WebUI are still present`);
  }
  let modelsFound = 0;
  const wantedModels = new Map(e.plan.models.map((m) => [m.id, m]));
  for (const m of await selectModels(tx, kind, [...wantedModels.keys()])) {
    const w = wantedModels.get(m.id)!;
    if (
      w.origin === 'preset-base' ||
      (m.name === w.name && m.isActive === w.isActive && m.baseModelId === null)
    ) {
      modelsFound++;
    }
  }
  if (modelsFound !== wantedModels.size) {
    problems.push(
      `models: ${modelsFound} of ${wantedModels.size} present with the source's values`,
    );
  }
  for (const [i, planned] of e.plan.organizations.entries()) {
    const x = e.organizations[i];
    const org = await tx.getRepository(OrganizationEntity).findOne({ where: { id: planned.id } });
    if (!org || org.externalUser !== planned.externalUser || org.name !== planned.name) {
      problems.push(`organization "${planned.id}" is missing or differs`);
    }
    const memberIds = new Set(
      (
        await tx
          .getRepository(MembershipEntity)
          .find({ where: { organizationId: planned.id }, select: { userId: true } })
      ).map((m) => m.userId),
    );
    const membersPresent = planned.members.filter((m) => memberIds.has(m.userId)).length;
    if (membersPresent !== planned.members.length) {
      problems.push(
        `memberships: ${membersPresent} of ${planned.members.length} expected members present in "${planned.id}"`,
      );
    }
    const expectedMembers = x.membersBefore + x.membersCreated - x.membersRemoved;
    if (memberIds.size !== expectedMembers) {
      problems.push(
        `memberships: ${memberIds.size} in "${planned.id}", expected ${x.membersBefore} before + ${x.membersCreated} created - ${x.membersRemoved} removed`,
      );
    }
    const grantIds = new Set(
      (
        await tx
          .getRepository(GrantEntity)
          .find({ where: { organizationId: planned.id }, select: { modelId: true } })
      ).map((g) => g.modelId),
    );
    const grantsPresent = planned.grants.filter((g) => grantIds.has(g.modelId)).length;
    if (grantsPresent !== planned.grants.length) {
      problems.push(
        `grants: ${grantsPresent} of ${planned.grants.length} expected grants present in "${planned.id}"`,
      );
    }
    const expectedGrants = x.grantsBefore + x.grantsCreated - x.grantsRemoved;
    if (grantIds.size !== expectedGrants) {
      problems.push(
        `grants: ${grantIds.size} in "${planned.id}", expected ${x.grantsBefore} before + ${x.grantsCreated} created - ${x.grantsRemoved} removed`,
      );
    }
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
