import { EntityManager, In } from 'typeorm';
import { AuditEventEntity } from '../../../src/audit/entities/audit-event.entity';
import { toModelResponse } from '../../../src/catalog/catalog.service';
import { ModelEntity } from '../../../src/catalog/entities/model.entity';
import { MembershipEntity } from '../../../src/memberships/entities/membership.entity';
import { GrantEntity } from '../../../src/model-access/entities/grant.entity';
import { OrganizationEntity } from '../../../src/organizations/entities/organization.entity';
import { insertOrganization } from '../../../src/organizations/organization-writer';
import { toOrganizationResponse } from '../../../src/organizations/organizations.service';
import { UserEntity } from '../../../src/users/entities/user.entity';
import { toUserResponse } from '../../../src/users/users.service';
import { bulkInsert, chunk, rowsPerStatement } from '../batch';
import { ToolError } from '../cli';
import { Progress } from '../progress';
import { MigrationPlan, PlannedModel, PlannedUser } from './plan';
import {
  ApplyResult,
  emptyOutcome,
  EXIT_CONFLICT,
  MIGRATION_ACTOR,
  Outcome,
  Phase,
} from './report';
import { selectModels, selectUsers, verify } from './verify';

export interface ApplySettings {
  kind: 'sqlite' | 'postgres';
  externalUser: string;
  /** Organization display name, already trimmed. */
  name: string;
  dryRun: boolean;
  progress?: Progress;
  /** Test-only: throw after this phase. */
  failAfter?: Phase;
  /** Test-only: runs inside the transaction just before the verification. */
  beforeVerify?: (tx: EntityManager) => Promise<void>;
}

interface AuditRow {
  action: string;
  targetType: string;
  targetId: string;
  before: unknown;
  after: unknown;
}

/** How PlanWriter.upsert writes one table keyed by id (users, models) from the plan. */
interface UpsertSpec<P, R> {
  /** Progress label. */
  phase: 'users' | 'models';
  /** Audit target type. */
  type: 'user' | 'model';
  planned: readonly P[];
  select: (ids: string[]) => Promise<R[]>;
  create: (planned: P) => R;
  /** The row to write when the existing one differs from the plan; null when it matches. */
  update: (old: R, planned: P) => R | null;
  /** The API view of a row, for the audit event. */
  response: (row: R) => unknown;
  table: string;
  columns: string[];
  values: (row: R) => unknown[];
  updateColumns: string[];
}

/**
 * Writes a plan inside the caller's transaction, one phase at a time, each with set-based
 * statements, collecting an audit event for every row it changes; then verifies.
 */
class PlanWriter {
  private readonly at = new Date().toISOString();
  private readonly orgId: string;
  private readonly audit: AuditRow[] = [];
  private readonly warnings: string[] = [];
  private readonly progress?: Progress;

  constructor(
    private readonly tx: EntityManager,
    private readonly s: ApplySettings,
    private readonly plan: MigrationPlan,
  ) {
    this.orgId = s.externalUser.toLowerCase();
    this.progress = s.progress;
  }

  async run(): Promise<ApplyResult> {
    const auditBefore = await this.auditCount();
    const org = await this.organization();
    this.checkpoint('organization');
    const users = await this.users();
    this.checkpoint('users');
    const members = await this.memberships();
    this.checkpoint('memberships');
    const models = await this.models();
    this.checkpoint('models');
    const grants = await this.grants(models.createdIds);
    this.checkpoint('grants');

    const orgCount = (o: keyof Outcome) => (org.outcome === o ? 1 : 0);
    const totals: Outcome = {
      created:
        orgCount('created') +
        users.created +
        members.outcome.created +
        models.outcome.created +
        grants.outcome.created,
      updated: orgCount('updated') + users.updated + models.outcome.updated,
      unchanged:
        orgCount('unchanged') +
        users.unchanged +
        members.outcome.unchanged +
        models.outcome.unchanged +
        grants.outcome.unchanged,
    };
    const changed = totals.created + totals.updated + grants.autoGrants > 0;
    if (changed) {
      this.record('organization.migrate', 'organization', this.orgId, null, {
        dry_run: this.s.dryRun,
        users,
        memberships: members.outcome,
        models: models.outcome,
        grants: grants.outcome,
        auto_grants: grants.autoGrants,
        skipped: this.plan.skipped.length,
      });
    }
    const auditWritten = await this.writeAudit();
    this.checkpoint('audit');

    await this.s.beforeVerify?.(this.tx);
    this.progress?.start('verifying');
    await verify(this.tx, this.s.kind, {
      orgId: this.orgId,
      name: this.s.name,
      externalUser: this.s.externalUser,
      plan: this.plan,
      membersBefore: members.before,
      membersCreated: members.outcome.created,
      grantsBefore: grants.before,
      grantsCreated: grants.outcome.created,
      auditBefore,
      auditWritten,
    });
    this.progress?.done();

    const plan = this.plan;
    return {
      organization: {
        id: this.orgId,
        name: this.s.name,
        external_user: this.s.externalUser,
        outcome: org.outcome,
        is_active: org.isActive,
      },
      counts: {
        users: {
          source: plan.sourceUsers,
          skipped: plan.skipped.filter((s) => s.table === 'user').length,
          pending: plan.users.filter((u) => u.role === 'pending').length,
          ...users,
        },
        memberships: {
          expected: plan.members.length,
          differing: members.differing,
          ...members.outcome,
        },
        models: {
          source: plan.sourceModels,
          provider: plan.models.length,
          custom: plan.customModels.length,
          skipped:
            plan.skipped.filter((s) => s.table === 'model').length - plan.customModels.length,
          ...models.outcome,
        },
        grants: { expected: plan.models.length, differing: grants.differing, ...grants.outcome },
        auto_grants: grants.autoGrants,
        audit_events: auditWritten,
      },
      totals,
      changed,
      warnings: this.warnings,
      skipped: plan.skipped,
    };
  }

  private checkpoint(phase: Phase): void {
    if (this.s.failAfter === phase) {
      throw new Error(`injected failure after ${phase}`);
    }
  }

  private record(
    action: string,
    targetType: string,
    targetId: string,
    before: unknown,
    after: unknown,
  ): void {
    this.audit.push({ action, targetType, targetId, before, after });
  }

  private auditCount(): Promise<number> {
    return this.tx.getRepository(AuditEventEntity).count({ where: { actor: MIGRATION_ACTOR } });
  }

  /** Creates the organization, renames it, or reuses it as it is. */
  private async organization(): Promise<{
    outcome: 'created' | 'updated' | 'unchanged';
    isActive: boolean;
  }> {
    const { externalUser, name } = this.s;
    const orgs = this.tx.getRepository(OrganizationEntity);
    const existing = await orgs.findOne({ where: { id: this.orgId } });
    const holder = await orgs.findOne({ where: { externalUser } });
    if (holder && holder.id !== this.orgId) {
      throw new ToolError(
        `external_user "${externalUser}" already belongs to organization "${holder.id}"`,
        EXIT_CONFLICT,
      );
    }
    if (existing && existing.externalUser !== externalUser) {
      throw new ToolError(
        `organization "${this.orgId}" already exists with external_user "${existing.externalUser}", not "${externalUser}"`,
        EXIT_CONFLICT,
      );
    }
    if (existing && !existing.isActive) {
      this.warnings.push(
        `organization "${this.orgId}" is archived (is_active false): its members get no models until it is reactivated`,
      );
    }
    if (!existing) {
      const org = await insertOrganization(this.tx, {
        id: this.orgId,
        name,
        externalUser,
        at: this.at,
      });
      if ('conflict' in org) {
        throw new ToolError(
          `organization "${this.orgId}" was created by another process meanwhile`,
          EXIT_CONFLICT,
        );
      }
      this.record(
        'organization.create',
        'organization',
        this.orgId,
        null,
        toOrganizationResponse(org, { members: 0, grants: 0 }),
      );
      return { outcome: 'created', isActive: true };
    }
    if (existing.name !== name) {
      await orgs.update({ id: this.orgId }, { name, updatedAt: this.at });
      this.record(
        'organization.update',
        'organization',
        this.orgId,
        { name: existing.name },
        { name },
      );
      return { outcome: 'updated', isActive: existing.isActive };
    }
    return { outcome: 'unchanged', isActive: existing.isActive };
  }

  /** Inserts new users and updates those whose name, email or role changed. */
  private async users(): Promise<Outcome> {
    const { outcome } = await this.upsert<PlannedUser, UserEntity>({
      phase: 'users',
      type: 'user',
      planned: this.plan.users,
      select: (ids) => selectUsers(this.tx, this.s.kind, ids),
      create: (u) => ({ ...u, updatedAt: this.at }),
      update: (old, u) =>
        old.name !== u.name || old.email !== u.email || old.role !== u.role
          ? { ...old, name: u.name, email: u.email, role: u.role, updatedAt: this.at }
          : null,
      response: toUserResponse,
      table: 'users',
      columns: ['id', 'name', 'email', 'role', 'created_at', 'updated_at'],
      values: (u) => [u.id, u.name, u.email, u.role, u.createdAt, u.updatedAt],
      updateColumns: ['name', 'email', 'role', 'updated_at'],
    });
    return outcome;
  }

  /** Every non-pending user joins; memberships that exist are kept as they are. */
  private async memberships(): Promise<{ outcome: Outcome; differing: number; before: number }> {
    const outcome = emptyOutcome();
    let differing = 0;
    this.progress?.start('memberships', this.plan.members.length);
    const existing = new Map(
      (
        await this.tx
          .getRepository(MembershipEntity)
          .find({ where: { organizationId: this.orgId } })
      ).map((m) => [m.userId, m]),
    );
    const rows: MembershipEntity[] = [];
    for (const m of this.plan.members) {
      const old = existing.get(m.userId);
      if (old) {
        outcome.unchanged++;
        if (old.role !== m.role || !old.isActive) {
          differing++;
        }
        continue;
      }
      outcome.created++;
      rows.push({
        organizationId: this.orgId,
        userId: m.userId,
        role: m.role,
        isActive: true,
        joinedAt: this.at,
        updatedAt: this.at,
      });
      this.record('membership.create', 'membership', `${this.orgId}/${m.userId}`, null, {
        role: m.role,
        is_active: true,
      });
    }
    this.progress?.advance(outcome.unchanged);
    await bulkInsert(
      this.tx,
      this.s.kind,
      'organization_members',
      ['organization_id', 'user_id', 'role', 'is_active', 'joined_at', 'updated_at'],
      rows.map((m) => [m.organizationId, m.userId, m.role, m.isActive, m.joinedAt, m.updatedAt]),
      {
        onConflict: { target: ['organization_id', 'user_id'], ignore: true },
        onChunk: (n) => this.progress?.advance(n),
      },
    );
    if (differing > 0) {
      this.warnings.push(
        `${differing} existing membership(s) of "${this.orgId}" differ from Open WebUI (role or suspension) and were kept as they are; change them through the API if needed`,
      );
    }
    this.progress?.done();
    return { outcome, differing, before: existing.size };
  }

  /** Provider models into the catalog: new ones inserted, changed ones updated. */
  private models(): Promise<{ outcome: Outcome; createdIds: string[] }> {
    return this.upsert<PlannedModel, ModelEntity>({
      phase: 'models',
      type: 'model',
      planned: this.plan.models,
      select: (ids) => selectModels(this.tx, this.s.kind, ids),
      create: (m) => ({
        id: m.id,
        name: m.name,
        baseModelId: null,
        isActive: m.isActive,
        promptPriceUsd: null,
        completionPriceUsd: null,
        contextLength: null,
        maxCompletionTokens: null,
        createdAt: this.at,
        updatedAt: this.at,
      }),
      update: (old, m) =>
        old.name !== m.name || old.isActive !== m.isActive || old.baseModelId !== null
          ? { ...old, name: m.name, isActive: m.isActive, baseModelId: null, updatedAt: this.at }
          : null,
      response: toModelResponse,
      table: 'models',
      columns: ['id', 'name', 'base_model_id', 'is_active', 'created_at', 'updated_at'],
      values: (m) => [m.id, m.name, m.baseModelId, m.isActive, m.createdAt, m.updatedAt],
      updateColumns: ['name', 'base_model_id', 'is_active', 'updated_at'],
    });
  }

  /**
   * Inserts the planned rows that do not exist yet and updates those that differ (audited as
   * `<type>.create` and `<type>.update`), in one set-based upsert; the rest count as unchanged.
   */
  private async upsert<P extends { id: string }, R extends { id: string }>(
    spec: UpsertSpec<P, R>,
  ): Promise<{ outcome: Outcome; createdIds: string[] }> {
    const outcome = emptyOutcome();
    const createdIds: string[] = [];
    this.progress?.start(spec.phase, spec.planned.length);
    const existing = new Map(
      (await spec.select(spec.planned.map((p) => p.id))).map((r) => [r.id, r]),
    );
    const rows: R[] = [];
    for (const p of spec.planned) {
      const old = existing.get(p.id);
      const row = old ? spec.update(old, p) : spec.create(p);
      if (!row) {
        outcome.unchanged++;
        continue;
      }
      rows.push(row);
      if (old) {
        outcome.updated++;
        this.record(`${spec.type}.update`, spec.type, p.id, spec.response(old), spec.response(row));
      } else {
        outcome.created++;
        createdIds.push(p.id);
        this.record(`${spec.type}.create`, spec.type, p.id, null, spec.response(row));
      }
    }
    this.progress?.advance(outcome.unchanged);
    await bulkInsert(
      this.tx,
      this.s.kind,
      spec.table,
      spec.columns,
      rows.map((r) => spec.values(r)),
      {
        onConflict: { target: ['id'], update: spec.updateColumns },
        onChunk: (n) => this.progress?.advance(n),
      },
    );
    this.progress?.done();
    return { outcome, createdIds };
  }

  /**
   * Grants every provider model to the organization with the model's is_active (existing
   * grants are kept), and, as the catalog does for any new model, grants models new to the
   * catalog to the organizations that auto-grant.
   */
  private async grants(
    createdModelIds: string[],
  ): Promise<{ outcome: Outcome; differing: number; before: number; autoGrants: number }> {
    const outcome = emptyOutcome();
    let differing = 0;
    this.progress?.start('grants', this.plan.models.length);
    const repo = this.tx.getRepository(GrantEntity);
    const existing = new Map(
      (await repo.find({ where: { organizationId: this.orgId } })).map((g) => [g.modelId, g]),
    );
    const rows: GrantEntity[] = [];
    const grant = (organizationId: string, modelId: string, isActive: boolean) =>
      rows.push({ organizationId, modelId, isActive, createdAt: this.at, updatedAt: this.at });
    for (const m of this.plan.models) {
      const old = existing.get(m.id);
      if (old) {
        outcome.unchanged++;
        if (old.isActive !== m.isActive) {
          differing++;
        }
        continue;
      }
      outcome.created++;
      grant(this.orgId, m.id, m.isActive);
      this.record('grant.create', 'grant', `${this.orgId}/${m.id}`, null, {
        is_active: m.isActive,
      });
    }
    let autoGrants = 0;
    const autoOrgs = await this.tx
      .getRepository(OrganizationEntity)
      .find({ where: { autoGrantNewModels: true }, select: { id: true } });
    for (const auto of autoOrgs.filter((o) => o.id !== this.orgId)) {
      const held = new Set<string>();
      for (const ids of chunk(createdModelIds, rowsPerStatement(this.s.kind, 1))) {
        const found = await repo.find({
          where: { organizationId: auto.id, modelId: In(ids) },
          select: { modelId: true },
        });
        found.forEach((g) => held.add(g.modelId));
      }
      for (const modelId of createdModelIds.filter((id) => !held.has(id))) {
        autoGrants++;
        grant(auto.id, modelId, true);
        this.record('grant.create', 'grant', `${auto.id}/${modelId}`, null, {
          is_active: true,
          auto_granted: true,
        });
      }
    }
    this.progress?.advance(outcome.unchanged);
    await bulkInsert(
      this.tx,
      this.s.kind,
      'organization_models',
      ['organization_id', 'model_id', 'is_active', 'created_at', 'updated_at'],
      rows.map((g) => [g.organizationId, g.modelId, g.isActive, g.createdAt, g.updatedAt]),
      {
        onConflict: { target: ['organization_id', 'model_id'], ignore: true },
        onChunk: (n) => this.progress?.advance(n),
      },
    );
    if (differing > 0) {
      this.warnings.push(
        `${differing} existing grant(s) of "${this.orgId}" differ from the model's is_active in Open WebUI and were kept as they are`,
      );
    }
    this.progress?.done();
    return { outcome, differing, before: existing.size, autoGrants };
  }

  /** Appends the collected audit events (actor tool:migrate-organizations); returns how many. */
  private async writeAudit(): Promise<number> {
    this.progress?.start('audit events', this.audit.length);
    const json = (value: unknown) =>
      value === null || value === undefined ? null : JSON.stringify(value);
    await bulkInsert(
      this.tx,
      this.s.kind,
      'audit_events',
      ['actor', 'action', 'target_type', 'target_id', 'before', 'after', 'created_at'],
      this.audit.map((a) => [
        MIGRATION_ACTOR,
        a.action,
        a.targetType,
        a.targetId,
        json(a.before),
        json(a.after),
        this.at,
      ]),
      { onChunk: (n) => this.progress?.advance(n) },
    );
    this.progress?.done();
    return this.audit.length;
  }
}

/** Everything that writes, inside the one transaction; returns what it did. */
export function applyPlan(
  tx: EntityManager,
  settings: ApplySettings,
  plan: MigrationPlan,
): Promise<ApplyResult> {
  return new PlanWriter(tx, settings, plan).run();
}
