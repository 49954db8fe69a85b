import { EntityManager, In } from 'typeorm';
import { AuditEventEntity } from '../../../src/audit/entities/audit-event.entity';
import { toModelResponse } from '../../../src/catalog/catalog.service';
import { ModelEntity } from '../../../src/catalog/entities/model.entity';
import { MembershipEntity } from '../../../src/memberships/entities/membership.entity';
import { GrantEntity } from '../../../src/model-access/entities/grant.entity';
import { OrganizationEntity } from '../../../src/organizations/entities/organization.entity';
import { toOrganizationResponse } from '../../../src/organizations/organizations.service';
import { UserEntity } from '../../../src/users/entities/user.entity';
import { toUserResponse } from '../../../src/users/users.service';
import { bulkInsert, chunk, rowsPerStatement } from '../batch';
import { ToolError } from '../cli';
import { Progress } from '../progress';
import { MigrationPlan, PlannedModel, PlannedOrganization, PlannedUser } from './plan';
import {
  ApplyResult,
  emptyOutcome,
  emptyReconciliation,
  EXIT_CONFLICT,
  MIGRATION_ACTOR,
  MigrationReport,
  Outcome,
  Phase,
  Reconciliation,
} from './report';
import { deleteByKeys, UndoLog } from './undo';
import { selectModels, selectUsers, verify } from './verify';

export interface ApplySettings {
  kind: 'sqlite' | 'postgres';
  dryRun: boolean;
  /** Remove what Open WebUI no longer has (else only list it). */
  prune: boolean;
  progress?: Progress;
  undo: UndoLog;
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
  phase: 'users' | 'models';
  type: 'user' | 'model';
  planned: readonly P[];
  select: (ids: string[]) => Promise<R[]>;
  create: (planned: P) => R;
  /** The row to write when the existing one differs from the plan; null when it matches. */
  update: (old: R, planned: P) => R | null;
  response: (row: R) => unknown;
  /** The row under raw column names (for the undo file). */
  raw: (row: R) => Record<string, unknown>;
  table: 'users' | 'models';
  columns: string[];
  values: (row: R) => unknown[];
  updateColumns: string[];
}

const rawUser = (u: UserEntity) => ({
  id: u.id,
  name: u.name,
  email: u.email,
  role: u.role,
  created_at: u.createdAt,
  updated_at: u.updatedAt,
});
const rawModel = (m: ModelEntity) => ({
  id: m.id,
  name: m.name,
  base_model_id: m.baseModelId,
  is_active: m.isActive,
  created_at: m.createdAt,
  updated_at: m.updatedAt,
});
const rawMember = (m: MembershipEntity) => ({
  organization_id: m.organizationId,
  user_id: m.userId,
  role: m.role,
  is_active: m.isActive,
  joined_at: m.joinedAt,
  updated_at: m.updatedAt,
});
const rawGrant = (g: GrantEntity) => ({
  organization_id: g.organizationId,
  model_id: g.modelId,
  is_active: g.isActive,
  created_at: g.createdAt,
  updated_at: g.updatedAt,
});

/** What this tool created before, read from its own audit events. */
interface Provenance {
  users: Set<string>;
  /** `<organization>/<user>` */
  memberships: Set<string>;
  /** `<organization>/<model>` */
  grants: Set<string>;
}

/**
 * Writes a plan inside the caller's transaction, one phase at a time, each with set-based
 * statements, collecting an audit event for every row it changes and the rows' earlier
 * states for undoing; then verifies.
 */
class PlanWriter {
  private readonly at = new Date().toISOString();
  private readonly audit: AuditRow[] = [];
  private readonly warnings: string[] = [];
  private readonly progress?: Progress;
  private readonly reconcile: Reconciliation;
  /** Roles in our users table before this run (to tell Open WebUI's role changes from ours). */
  private readonly previousRoles = new Map<string, string>();
  private provenance: Provenance = { users: new Set(), memberships: new Set(), grants: new Set() };

  constructor(
    private readonly tx: EntityManager,
    private readonly s: ApplySettings,
    private readonly plan: MigrationPlan,
  ) {
    this.progress = s.progress;
    this.reconcile = emptyReconciliation(s.prune);
  }

  async run(): Promise<ApplyResult> {
    const auditBefore = await this.auditCount();
    this.provenance = await this.readProvenance();
    const orgs = await this.organizations();
    this.checkpoint('organization');
    const users = await this.users();
    const deleted = await this.deletedUsers();
    this.checkpoint('users');
    const members = await this.memberships();
    this.checkpoint('memberships');
    const models = await this.models();
    this.checkpoint('models');
    const grants = await this.grants(models.createdIds);
    this.checkpoint('grants');

    const orgOutcome = emptyOutcome();
    orgs.forEach((o) => orgOutcome[o.outcome]++);
    const totals: Outcome = {
      created:
        orgOutcome.created +
        users.created +
        members.outcome.created +
        models.outcome.created +
        grants.outcome.created,
      updated:
        orgOutcome.updated + users.updated + members.outcome.updated + models.outcome.updated,
      unchanged:
        orgOutcome.unchanged +
        users.unchanged +
        members.outcome.unchanged +
        models.outcome.unchanged +
        grants.outcome.unchanged,
    };
    const removed = deleted + members.removed + grants.removed;
    const changed = totals.created + totals.updated + grants.autoGrants + removed > 0;
    const defaultOrg = this.plan.organizations[0];
    if (changed) {
      this.record('organization.migrate', 'organization', defaultOrg.id, null, {
        dry_run: this.s.dryRun,
        organizations: orgs.map((o) => o.id),
        users,
        memberships: members.outcome,
        models: models.outcome,
        grants: grants.outcome,
        auto_grants: grants.autoGrants,
        removed: { users: deleted, memberships: members.removed, grants: grants.removed },
        skipped: this.plan.skipped.length,
        not_carried_over: this.plan.notCarriedOver.length,
      });
    }
    const auditWritten = await this.writeAudit();
    this.checkpoint('audit');

    await this.s.beforeVerify?.(this.tx);
    this.progress?.start('verifying');
    await verify(this.tx, this.s.kind, {
      plan: this.plan,
      organizations: orgs.map((o) => ({
        id: o.id,
        membersBefore: o.membersBefore,
        membersCreated: o.membersCreated,
        membersRemoved: o.membersRemoved,
        grantsBefore: o.grantsBefore,
        grantsCreated: o.grantsCreated,
        grantsRemoved: o.grantsRemoved,
      })),
      deletedUsers: this.reconcile.users_deleted_in_openwebui
        .filter((u) => u.removed)
        .map((u) => u.user_id),
      auditBefore,
      auditWritten,
    });
    this.progress?.done();

    const plan = this.plan;
    const first = orgs[0];
    const counts: MigrationReport['counts'] = {
      users: {
        source: plan.sourceUsers,
        skipped: plan.skipped.filter((s) => s.table === 'user').length,
        pending: plan.users.filter((u) => u.role === 'pending').length,
        deleted,
        ...users,
      },
      memberships: {
        expected: plan.organizations.reduce((n, o) => n + o.members.length, 0),
        differing: members.differing,
        removed: members.removed,
        ...members.outcome,
      },
      models: {
        source: plan.sourceModels,
        provider: plan.models.filter((m) => m.origin === 'row').length,
        custom: plan.customModels.length,
        skipped: plan.skipped.filter((s) => s.table === 'model').length - plan.customModels.length,
        from_presets: plan.models.filter((m) => m.origin === 'preset-base').length,
        ...models.outcome,
      },
      grants: {
        expected: plan.organizations.reduce((n, o) => n + o.grants.length, 0),
        differing: grants.differing,
        removed: grants.removed,
        ...grants.outcome,
      },
      groups: plan.sourceGroups,
      auto_grants: grants.autoGrants,
      audit_events: auditWritten,
    };
    return {
      organization: {
        id: first.id,
        name: first.name,
        external_user: first.externalUser,
        outcome: first.outcome,
        is_active: first.isActive,
      },
      organizations: orgs.map((o) => ({
        id: o.id,
        name: o.name,
        external_user: o.externalUser,
        group_id: o.groupId,
        outcome: o.outcome,
        members: o.planned.members.length,
        grants: o.planned.grants.length,
      })),
      counts,
      totals,
      changed,
      warnings: [...plan.warnings, ...this.warnings],
      reconcile: this.reconcile,
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

  /** The users, memberships and grants this tool created in earlier runs (its audit events). */
  private async readProvenance(): Promise<Provenance> {
    const rows = await this.tx.getRepository(AuditEventEntity).find({
      where: {
        actor: MIGRATION_ACTOR,
        action: In(['user.create', 'membership.create', 'grant.create']),
      },
      select: { action: true, targetId: true },
    });
    const p: Provenance = { users: new Set(), memberships: new Set(), grants: new Set() };
    for (const r of rows) {
      const set =
        r.action === 'user.create'
          ? p.users
          : r.action === 'membership.create'
            ? p.memberships
            : p.grants;
      set.add(r.targetId);
    }
    return p;
  }

  /** Creates each planned organization, renames it, or reuses it as it is. */
  private async organizations() {
    const repo = this.tx.getRepository(OrganizationEntity);
    const out = [];
    for (const planned of this.plan.organizations) {
      const { id, externalUser, name } = planned;
      const existing = await repo.findOne({ where: { id } });
      const holder = await repo.findOne({ where: { externalUser } });
      if (holder && holder.id !== id) {
        throw new ToolError(
          `external_user "${externalUser}" already belongs to organization "${holder.id}"`,
          EXIT_CONFLICT,
        );
      }
      if (existing && existing.externalUser !== externalUser) {
        throw new ToolError(
          `organization "${id}" already exists with external_user "${existing.externalUser}", not "${externalUser}"`,
          EXIT_CONFLICT,
        );
      }
      if (existing && !existing.isActive) {
        this.warnings.push(
          `organization "${id}" is archived (is_active false): its members get no models until it is reactivated`,
        );
      }
      let outcome: 'created' | 'updated' | 'unchanged' = 'unchanged';
      if (!existing) {
        const org = repo.create({
          id,
          name,
          externalUser,
          isActive: true,
          autoGrantNewModels: false,
          createdAt: this.at,
          updatedAt: this.at,
        });
        await repo.insert(org);
        this.s.undo.created('organizations', [id]);
        this.record(
          'organization.create',
          'organization',
          id,
          null,
          toOrganizationResponse(org, { members: 0, grants: 0 }),
        );
        outcome = 'created';
      } else if (existing.name !== name) {
        await repo.update({ id }, { name, updatedAt: this.at });
        this.s.undo.before('organizations', {
          id,
          name: existing.name,
          updated_at: existing.updatedAt,
        });
        this.record('organization.update', 'organization', id, { name: existing.name }, { name });
        outcome = 'updated';
      }
      out.push({
        ...planned,
        planned,
        outcome,
        isActive: existing ? existing.isActive : true,
        membersBefore: 0,
        membersCreated: 0,
        membersRemoved: 0,
        grantsBefore: 0,
        grantsCreated: 0,
        grantsRemoved: 0,
      });
    }
    this.orgState = out;
    return out;
  }

  private orgState: Awaited<ReturnType<PlanWriter['organizations']>> = [];

  /** Inserts new users and updates those whose name, email or role changed. */
  private async users(): Promise<Outcome> {
    const { outcome } = await this.upsert<PlannedUser, UserEntity>({
      phase: 'users',
      type: 'user',
      planned: this.plan.users,
      select: async (ids) => {
        const rows = await selectUsers(this.tx, this.s.kind, ids);
        rows.forEach((r) => this.previousRoles.set(r.id, r.role));
        return rows;
      },
      create: (u) => ({ ...u, updatedAt: this.at }),
      update: (old, u) =>
        old.name !== u.name || old.email !== u.email || old.role !== u.role
          ? { ...old, name: u.name, email: u.email, role: u.role, updatedAt: this.at }
          : null,
      response: toUserResponse,
      raw: rawUser,
      table: 'users',
      columns: ['id', 'name', 'email', 'role', 'created_at', 'updated_at'],
      values: (u) => [u.id, u.name, u.email, u.role, u.createdAt, u.updatedAt],
      updateColumns: ['name', 'email', 'role', 'updated_at'],
    });
    return outcome;
  }

  /**
   * Users this tool brought in earlier whose row is gone from Open WebUI: listed, and with
   * --prune deleted with their memberships (as the API's delete does). Returns how many.
   */
  private async deletedUsers(): Promise<number> {
    const gone = [...this.provenance.users].filter((id) => !this.plan.sourceUserIds.has(id));
    const rows = await selectUsers(this.tx, this.s.kind, gone);
    for (const u of rows) {
      this.reconcile.users_deleted_in_openwebui.push({ user_id: u.id, removed: this.s.prune });
    }
    if (!this.s.prune || rows.length === 0) {
      return 0;
    }
    const ids = rows.map((u) => u.id);
    const memberships: MembershipEntity[] = [];
    for (const slice of chunk(ids, rowsPerStatement(this.s.kind, 1))) {
      memberships.push(
        ...(await this.tx.getRepository(MembershipEntity).find({ where: { userId: In(slice) } })),
      );
    }
    for (const m of memberships) {
      this.s.undo.before('organization_members', rawMember(m));
    }
    await deleteByKeys(
      this.tx,
      this.s.kind,
      'organization_members',
      memberships.map((m) => [m.organizationId, m.userId]),
    );
    await deleteByKeys(
      this.tx,
      this.s.kind,
      'users',
      ids.map((id) => [id]),
    );
    for (const u of rows) {
      this.s.undo.before('users', rawUser(u));
      this.record('user.delete', 'user', u.id, toUserResponse(u), {
        reason: 'deleted in Open WebUI',
        memberships_removed: memberships.filter((m) => m.userId === u.id).length,
      });
    }
    return rows.length;
  }

  /**
   * Members of each organization: missing ones join; a membership role follows a role change
   * made in Open WebUI since the last run (a demotion or promotion); other differences (made
   * through the API, suspensions) are kept and counted. Memberships this tool created that the
   * plan no longer has are listed, and removed with --prune.
   */
  private async memberships(): Promise<{
    outcome: Outcome;
    differing: number;
    removed: number;
  }> {
    const outcome = emptyOutcome();
    let differing = 0;
    let removed = 0;
    const planned = this.orgState.reduce((n, o) => n + o.planned.members.length, 0);
    this.progress?.start('memberships', planned);
    const roleOf = new Map(this.plan.users.map((u) => [u.id, u.role]));
    const rows: MembershipEntity[] = [];
    for (const org of this.orgState) {
      const existing = new Map(
        (
          await this.tx.getRepository(MembershipEntity).find({ where: { organizationId: org.id } })
        ).map((m) => [m.userId, m]),
      );
      org.membersBefore = existing.size;
      const wanted = new Set(org.planned.members.map((m) => m.userId));
      for (const m of org.planned.members) {
        const old = existing.get(m.userId);
        if (!old) {
          outcome.created++;
          org.membersCreated++;
          rows.push({
            organizationId: org.id,
            userId: m.userId,
            role: m.role,
            isActive: true,
            joinedAt: this.at,
            updatedAt: this.at,
          });
          this.s.undo.created('organization_members', [org.id, m.userId]);
          this.record('membership.create', 'membership', `${org.id}/${m.userId}`, null, {
            role: m.role,
            is_active: true,
          });
          continue;
        }
        const previous = this.previousRoles.get(m.userId);
        const roleChangedInOpenWebUi = previous !== undefined && previous !== roleOf.get(m.userId);
        if (old.role !== m.role && roleChangedInOpenWebUi) {
          await this.tx
            .getRepository(MembershipEntity)
            .update(
              { organizationId: org.id, userId: m.userId },
              { role: m.role, updatedAt: this.at },
            );
          this.s.undo.before('organization_members', rawMember(old));
          this.record(
            'membership.update',
            'membership',
            `${org.id}/${m.userId}`,
            { role: old.role },
            {
              role: m.role,
              reason: `role changed in Open WebUI (${previous} -> ${roleOf.get(m.userId)})`,
            },
          );
          this.reconcile.role_changes.push({
            organization_id: org.id,
            user_id: m.userId,
            from: old.role,
            to: m.role,
          });
          outcome.updated++;
          continue;
        }
        outcome.unchanged++;
        if (old.role !== m.role || !old.isActive) {
          differing++;
        }
      }
      const stale = [...existing.values()].filter(
        (m) => !wanted.has(m.userId) && this.provenance.memberships.has(`${org.id}/${m.userId}`),
      );
      for (const m of stale) {
        const role = roleOf.get(m.userId);
        const reason = !this.plan.sourceUserIds.has(m.userId)
          ? 'user deleted in Open WebUI'
          : role === 'pending'
            ? 'user sent back to pending in Open WebUI'
            : role === undefined
              ? 'user row skipped (see skipped)'
              : 'user no longer in the Open WebUI group';
        this.reconcile.memberships.push({
          organization_id: org.id,
          user_id: m.userId,
          reason,
          removed: this.s.prune,
        });
        if (this.s.prune) {
          this.s.undo.before('organization_members', rawMember(m));
          this.record('membership.delete', 'membership', `${org.id}/${m.userId}`, rawMember(m), {
            reason,
          });
        }
      }
      if (this.s.prune) {
        await deleteByKeys(
          this.tx,
          this.s.kind,
          'organization_members',
          stale.map((m) => [org.id, m.userId]),
        );
        removed += stale.length;
        org.membersRemoved = stale.length;
      }
    }
    this.progress?.advance(outcome.unchanged + outcome.updated);
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
        `${differing} existing membership(s) differ from Open WebUI (role or suspension changed through the API) and were kept as they are; change them through the API if needed`,
      );
    }
    this.progress?.done();
    return { outcome, differing, removed };
  }

  /** Catalog models: new ones inserted, changed rows updated (a preset's base only inserted). */
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
        m.origin === 'row' &&
        (old.name !== m.name || old.isActive !== m.isActive || old.baseModelId !== null)
          ? { ...old, name: m.name, isActive: m.isActive, baseModelId: null, updatedAt: this.at }
          : null,
      response: toModelResponse,
      raw: rawModel,
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
        this.s.undo.before(spec.table, spec.raw(old));
        this.record(`${spec.type}.update`, spec.type, p.id, spec.response(old), spec.response(row));
      } else {
        outcome.created++;
        createdIds.push(p.id);
        this.s.undo.created(spec.table, [p.id]);
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
   * Grants each organization its planned models with the model's is_active (existing grants
   * are kept); lists, and with --prune revokes, grants this tool made that the plan no longer
   * has; and, as the catalog does for any new model, grants models new to the catalog to the
   * organizations that auto-grant.
   */
  private async grants(createdModelIds: string[]): Promise<{
    outcome: Outcome;
    differing: number;
    removed: number;
    autoGrants: number;
  }> {
    const outcome = emptyOutcome();
    let differing = 0;
    let removed = 0;
    const planned = this.orgState.reduce((n, o) => n + o.planned.grants.length, 0);
    this.progress?.start('grants', planned);
    const repo = this.tx.getRepository(GrantEntity);
    const rows: GrantEntity[] = [];
    const grant = (organizationId: string, modelId: string, isActive: boolean) =>
      rows.push({ organizationId, modelId, isActive, createdAt: this.at, updatedAt: this.at });
    const plannedModels = new Set(this.plan.models.map((m) => m.id));
    for (const org of this.orgState) {
      const existing = new Map(
        (await repo.find({ where: { organizationId: org.id } })).map((g) => [g.modelId, g]),
      );
      org.grantsBefore = existing.size;
      const wanted = new Set(org.planned.grants.map((g) => g.modelId));
      for (const g of org.planned.grants) {
        const old = existing.get(g.modelId);
        if (old) {
          outcome.unchanged++;
          if (old.isActive !== g.isActive) {
            differing++;
          }
          continue;
        }
        outcome.created++;
        org.grantsCreated++;
        grant(org.id, g.modelId, g.isActive);
        this.s.undo.created('organization_models', [org.id, g.modelId]);
        this.record('grant.create', 'grant', `${org.id}/${g.modelId}`, null, {
          is_active: g.isActive,
        });
      }
      const stale = [...existing.values()].filter(
        (g) => !wanted.has(g.modelId) && this.provenance.grants.has(`${org.id}/${g.modelId}`),
      );
      for (const g of stale) {
        const reason = plannedModels.has(g.modelId)
          ? org.groupId === null
            ? 'no longer readable by every member in Open WebUI'
            : 'the group no longer reads it in Open WebUI'
          : 'its Open WebUI row is gone, or no longer served or usable';
        this.reconcile.grants.push({
          organization_id: org.id,
          model_id: g.modelId,
          reason,
          removed: this.s.prune,
        });
        if (this.s.prune) {
          this.s.undo.before('organization_models', rawGrant(g));
          this.record('grant.delete', 'grant', `${org.id}/${g.modelId}`, rawGrant(g), { reason });
        }
      }
      if (this.s.prune) {
        await deleteByKeys(
          this.tx,
          this.s.kind,
          'organization_models',
          stale.map((g) => [org.id, g.modelId]),
        );
        removed += stale.length;
        org.grantsRemoved = stale.length;
      }
    }
    let autoGrants = 0;
    const managed = new Set(this.orgState.map((o) => o.id));
    const autoOrgs = await this.tx
      .getRepository(OrganizationEntity)
      .find({ where: { autoGrantNewModels: true }, select: { id: true } });
    for (const auto of autoOrgs.filter((o) => !managed.has(o.id))) {
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
        this.s.undo.created('organization_models', [auto.id, modelId]);
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
        `${differing} existing grant(s) differ from the model's is_active in Open WebUI and were kept as they are`,
      );
    }
    this.progress?.done();
    return { outcome, differing, removed, autoGrants };
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

export type { PlannedOrganization };
