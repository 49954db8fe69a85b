import { createHash } from 'node:crypto';
import {
  codePointLength,
  hasControlCharacters,
  idProblems,
  MODEL_ID_RULE,
  USER_ID_RULE,
  userEmailProblems,
  userNameProblems,
} from '../../../src/common/validators';
import { MemberRole } from '../../../src/memberships/entities/membership.entity';
import { USER_ROLES, UserRole } from '../../../src/users/entities/user.entity';
import { SourceGrant, SourceGroup, SourceModel, SourceSnapshot, SourceUser } from './source';

export interface PlannedUser {
  id: string;
  name: string;
  email: string;
  role: UserRole;
  /** From Open WebUI's created_at (epoch seconds); used only when the user is new to us. */
  createdAt: string;
}

export interface PlannedMember {
  userId: string;
  role: MemberRole;
}

export interface PlannedModel {
  id: string;
  name: string;
  isActive: boolean;
  /** `row`: a provider model row of Open WebUI; `preset-base`: only named as a preset's base. */
  origin: 'row' | 'preset-base';
}

export interface PlannedGrant {
  modelId: string;
  isActive: boolean;
}

/** An organization the run creates or keeps in step: the default one, or one per group. */
export interface PlannedOrganization {
  id: string;
  name: string;
  externalUser: string;
  /** The Open WebUI group it stands for; null for the default organization. */
  groupId: string | null;
  members: PlannedMember[];
  grants: PlannedGrant[];
}

export interface SkippedRow {
  table: 'user' | 'model' | 'group';
  /** The row's id as text (may be empty or hold the characters that made it unusable). */
  id: string;
  reason: string;
}

/** Something Open WebUI allowed one user that no organization of theirs grants here. */
export interface NotCarriedOver {
  model_id: string;
  user_id: string;
  /** How Open WebUI let the user read it: `user grant`, `owner`, `group "<name>"`, with `via preset <id>`. */
  via: string;
}

/** A fact about one model that changes what is granted (presets, stale rows, restrictions). */
export interface ModelNote {
  model_id: string;
  note: string;
}

/** What the source asks for, after every row was checked. */
export interface MigrationPlan {
  sourceUsers: number;
  sourceModels: number;
  sourceGroups: number;
  /** Where per-model access came from. */
  accessSource: 'access_grant' | 'access_control';
  users: PlannedUser[];
  /** Every id in the source's user table (valid or not), to tell deleted users from skipped ones. */
  sourceUserIds: Set<string>;
  /** Catalog models: provider rows, and bases of presets that have no row of their own. */
  models: PlannedModel[];
  /** Presets (base_model_id set): never catalog models themselves. */
  customModels: { id: string; baseModelId: string }[];
  /** The default organization first, then one per Open WebUI group (--groups-as-organizations). */
  organizations: PlannedOrganization[];
  skipped: SkippedRow[];
  notes: ModelNote[];
  notCarriedOver: NotCarriedOver[];
  /** Which models Open WebUI's connections serve, when its config says so. */
  served: { known: boolean; note: string };
  warnings: string[];
}

export interface PlanOptions {
  externalUser: string;
  name: string;
  groupsAsOrganizations: boolean;
  /** Now, as ISO text (created_at of users without a usable one). */
  at: string;
}

function asText(value: unknown): string | null {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'bigint') {
    return String(value);
  }
  return null;
}

function displayId(value: unknown): string {
  return asText(value) ?? (value === null || value === undefined ? '' : JSON.stringify(value));
}

/** A catalog model's or organization's display name: what the API accepts for them. */
function displayNameProblem(value: string): string | null {
  if (value.trim() === '') {
    return 'name is empty';
  }
  if (codePointLength(value) > 255) {
    return `name is ${codePointLength(value)} characters (at most 255)`;
  }
  if (hasControlCharacters(value)) {
    return 'name contains control characters';
  }
  return null;
}

/**
 * Converts Open WebUI's created_at to an ISO timestamp. Open WebUI stores epoch seconds;
 * milli-, micro- and nanoseconds are recognised by magnitude. Unusable values give null.
 */
export function epochToIso(value: unknown): string | null {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' && typeof n !== 'bigint') {
    return null;
  }
  const num = Number(n);
  if (!Number.isFinite(num) || num <= 0) {
    return null;
  }
  const ms = num < 1e11 ? num * 1000 : num < 1e14 ? num : num < 1e17 ? num / 1e3 : num / 1e6;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) || date.getUTCFullYear() > 9999 ? null : date.toISOString();
}

/** Reads a boolean as SQLite (0/1) or PostgreSQL (true/false) store it; null means active. */
export function parseActive(value: unknown): boolean | null {
  if (value === null || value === undefined) {
    return true;
  }
  if (value === true || value === 1 || value === '1' || value === 'true' || value === 't') {
    return true;
  }
  if (value === false || value === 0 || value === '0' || value === 'false' || value === 'f') {
    return false;
  }
  return null;
}

/** Who may read one model in Open WebUI. */
export interface Readers {
  public: boolean;
  groups: Set<string>;
  users: Set<string>;
  owner: string | null;
}

function noReaders(owner: string | null): Readers {
  return { public: false, groups: new Set(), users: new Set(), owner };
}

/**
 * Open WebUI's older per-model `access_control` JSON: NULL (or JSON null) is public, `{}` is
 * the owner only, otherwise `read.group_ids` and `read.user_ids` may read. Returns null when
 * the value cannot be read (then nobody but the owner may, as Open WebUI would fail closed).
 */
export function readersFromAccessControl(value: unknown, owner: string | null): Readers | null {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value) as unknown;
    } catch {
      return null;
    }
  }
  const readers = noReaders(owner);
  if (parsed === null || parsed === undefined) {
    readers.public = true;
    return readers;
  }
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    return null;
  }
  const read = (parsed as { read?: { group_ids?: unknown; user_ids?: unknown } }).read;
  const ids = (list: unknown) =>
    Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [];
  ids(read?.group_ids).forEach((g: string) => readers.groups.add(g));
  ids(read?.user_ids).forEach((u: string) => readers.users.add(u));
  return readers;
}

/** Read grants from access_grant by model: principal user `*` is public. */
function readersFromGrants(grants: readonly SourceGrant[]): Map<string, Readers> {
  const byModel = new Map<string, Readers>();
  for (const g of grants) {
    const model = asText(g.resource_id);
    const principal = asText(g.principal_id);
    if (model === null || principal === null) {
      continue;
    }
    const r = byModel.get(model) ?? noReaders(null);
    if (g.principal_type === 'user' && principal === '*') {
      r.public = true;
    } else if (g.principal_type === 'user') {
      r.users.add(principal);
    } else if (g.principal_type === 'group') {
      r.groups.add(principal);
    }
    byModel.set(model, r);
  }
  return byModel;
}

/**
 * Which model ids Open WebUI's connections serve, from its config (`openai` and `ollama`
 * sections): known only when every enabled connection lists its models (`model_ids`), as
 * Open WebUI then offers nothing else; `prefix_id` is applied as Open WebUI does.
 */
export function servedModels(config: unknown): { ids: Set<string> | null; note: string } {
  const unknown = (why: string) => ({
    ids: null,
    note: `which models Open WebUI's connections serve is not known (${why}): every model row counts as served`,
  });
  if (config === null || typeof config !== 'object') {
    return unknown('no config row');
  }
  const ids = new Set<string>();
  let sections = 0;
  for (const kind of ['openai', 'ollama'] as const) {
    const section = (config as Record<string, unknown>)[kind] as
      | { enable?: unknown; base_urls?: unknown; api_base_urls?: unknown; api_configs?: unknown }
      | undefined;
    if (!section || typeof section !== 'object') {
      continue;
    }
    sections++;
    if (section.enable === false) {
      continue;
    }
    const urls = (kind === 'openai' ? section.api_base_urls : section.base_urls) ?? [];
    if (!Array.isArray(urls)) {
      return unknown(`${kind} connections unreadable`);
    }
    const configs = (section.api_configs ?? {}) as Record<string, unknown>;
    for (let i = 0; i < urls.length; i++) {
      const c = (configs[String(i)] ?? configs[urls[i] as string] ?? {}) as {
        enable?: unknown;
        model_ids?: unknown;
        prefix_id?: unknown;
      };
      if (c.enable === false) {
        continue;
      }
      if (!Array.isArray(c.model_ids) || c.model_ids.length === 0) {
        return unknown(`${kind} connection ${i} lists no model_ids`);
      }
      const prefix = typeof c.prefix_id === 'string' && c.prefix_id !== '' ? `${c.prefix_id}.` : '';
      c.model_ids.forEach((m) => typeof m === 'string' && ids.add(`${prefix}${m}`));
    }
  }
  if (sections === 0) {
    return unknown('the config holds no connections');
  }
  return { ids, note: `Open WebUI's connections serve ${ids.size} listed model(s)` };
}

/** Organization id and external_user for an Open WebUI group: a stable hash of its id. */
export function groupOrganization(
  externalUser: string,
  groupId: string,
): { id: string; externalUser: string } {
  const hash = createHash('sha256').update(groupId).digest('hex').slice(0, 8);
  const base = externalUser.slice(0, 64 - '_grp_'.length - 8);
  return { id: `${base}_grp_${hash}`.toLowerCase(), externalUser: `${base}_grp_${hash}` };
}

function planUsers(rows: readonly SourceUser[], plan: MigrationPlan, at: string): void {
  const seen = new Set<string>();
  for (const row of rows) {
    const skip = (reason: string) =>
      plan.skipped.push({ table: 'user', id: displayId(row.id), reason });
    const id = asText(row.id);
    if (id !== null) {
      plan.sourceUserIds.add(id);
    }
    const idProblem = idProblems(id, USER_ID_RULE)[0];
    if (id === null || idProblem) {
      skip(idProblem ?? 'user_id must be a non-empty string');
      continue;
    }
    if (seen.has(id)) {
      skip('duplicate id (an earlier row with this id was used)');
      continue;
    }
    // Open WebUI may hold no name or email at all: stored as empty text, as the API allows.
    const name = row.name === null || row.name === undefined ? '' : row.name;
    const email = row.email === null || row.email === undefined ? '' : row.email;
    const problem = userNameProblems(name)[0] ?? userEmailProblems(email)[0];
    if (problem) {
      skip(problem);
      continue;
    }
    const role = asText(row.role);
    if (role === null || !USER_ROLES.includes(role as UserRole)) {
      skip(`role "${role ?? ''}" is not one of ${USER_ROLES.join(', ')}`);
      continue;
    }
    seen.add(id);
    plan.users.push({
      id,
      name: name as string,
      email: email as string,
      role: role as UserRole,
      createdAt: epochToIso(row.created_at) ?? at,
    });
  }
}

interface ModelRow {
  id: string;
  name: string;
  owner: string | null;
  base: string | null;
  isActive: boolean;
  readers: Readers;
}

function planModelRows(
  snapshot: Pick<SourceSnapshot, 'models' | 'grants'>,
  plan: MigrationPlan,
): ModelRow[] {
  const grantReaders = snapshot.grants === null ? null : readersFromGrants(snapshot.grants);
  const seen = new Set<string>();
  const rows: ModelRow[] = [];
  for (const row of snapshot.models as readonly SourceModel[]) {
    const skip = (reason: string) =>
      plan.skipped.push({ table: 'model', id: displayId(row.id), reason });
    const id = asText(row.id);
    const idProblem = idProblems(id, MODEL_ID_RULE)[0];
    if (id === null || idProblem) {
      skip(idProblem ?? 'model_id must be a non-empty string');
      continue;
    }
    if (seen.has(id)) {
      skip('duplicate id (an earlier row with this id was used)');
      continue;
    }
    seen.add(id);
    const isActive = parseActive(row.is_active);
    if (isActive === null) {
      skip(`is_active ${JSON.stringify(row.is_active)} is not a boolean`);
      continue;
    }
    const owner = asText(row.user_id);
    let readers: Readers;
    if (grantReaders !== null) {
      readers = grantReaders.get(id) ?? noReaders(null);
      readers.owner = owner;
    } else {
      const parsed = readersFromAccessControl(row.access_control, owner);
      if (parsed === null) {
        plan.notes.push({
          model_id: id,
          note: 'access_control cannot be read: treated as private to its owner',
        });
      }
      readers = parsed ?? noReaders(owner);
    }
    const name = asText(row.name) ?? '';
    const base = asText(row.base_model_id);
    rows.push({
      id,
      name: displayNameProblem(name) === null ? name : id,
      owner,
      base: base === null || base === '' ? null : base,
      isActive,
      readers,
    });
  }
  return rows;
}

function mergeReaders(into: Readers, from: Readers): void {
  into.public ||= from.public;
  from.groups.forEach((g) => into.groups.add(g));
  from.users.forEach((u) => into.users.add(u));
  if (from.owner !== null) {
    into.users.add(from.owner);
  }
}

/**
 * Checks every source row and decides what to migrate, keeping what Open WebUI allowed: a
 * model goes to an organization only when every member of it could read the model in Open
 * WebUI (public, their group, their own grant, theirs as owner, or through an active preset
 * built on it). Rows the service could not hold are skipped with the reason; nothing is
 * guessed, truncated or widened, and what cannot be expressed is listed per model and user.
 */
export function planMigration(
  snapshot: Pick<SourceSnapshot, 'users' | 'models' | 'groups' | 'grants' | 'config'>,
  options: PlanOptions,
): MigrationPlan {
  const served = servedModels(snapshot.config);
  const plan: MigrationPlan = {
    sourceUsers: snapshot.users.length,
    sourceModels: snapshot.models.length,
    sourceGroups: snapshot.groups.length,
    accessSource: snapshot.grants === null ? 'access_control' : 'access_grant',
    users: [],
    sourceUserIds: new Set(),
    models: [],
    customModels: [],
    organizations: [],
    skipped: [],
    notes: [],
    notCarriedOver: [],
    served: { known: served.ids !== null, note: served.note },
    warnings: [],
  };
  planUsers(snapshot.users, plan, options.at);
  const users = new Map(plan.users.map((u) => [u.id, u]));

  // Groups and each user's groups (members that are valid users only).
  const groups = new Map<string, { name: string; members: string[] }>();
  const groupsOf = new Map<string, string[]>();
  for (const g of snapshot.groups as readonly SourceGroup[]) {
    const id = asText(g.id);
    if (id === null || id === '' || groups.has(id)) {
      plan.skipped.push({ table: 'group', id: displayId(g.id), reason: 'empty or duplicate id' });
      continue;
    }
    const members = [
      ...new Set(g.members.map(asText).filter((u): u is string => u !== null && users.has(u))),
    ];
    groups.set(id, { name: asText(g.name) ?? '', members });
    members.forEach((u) => groupsOf.set(u, [...(groupsOf.get(u) ?? []), id]));
  }

  // Models: provider rows that are served, then presets lending their readers to their base.
  const rows = planModelRows(snapshot, plan);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const effective = new Map<string, Readers>();
  const viaPreset = new Map<string, Map<string, Readers>>();
  const isServed = (id: string) => served.ids === null || served.ids.has(id);
  for (const row of rows.filter((r) => r.base === null)) {
    if (!isServed(row.id)) {
      plan.skipped.push({
        table: 'model',
        id: row.id,
        reason:
          'override row of a model that no Open WebUI connection serves any more: not imported or granted',
      });
      continue;
    }
    plan.models.push({ id: row.id, name: row.name, isActive: row.isActive, origin: 'row' });
    effective.set(row.id, {
      ...row.readers,
      groups: new Set(row.readers.groups),
      users: new Set(row.readers.users),
    });
  }
  const presets = rows.filter((r) => r.base !== null);
  for (const p of presets) {
    const base = p.base!;
    plan.customModels.push({ id: p.id, baseModelId: base });
    const baseRow = byId.get(base);
    let outcome: string;
    if (!p.isActive) {
      outcome = 'inactive preset: grants nothing';
    } else if (baseRow && baseRow.base !== null) {
      outcome = `built on another preset ("${base}"): not followed, grants nothing`;
    } else if (!isServed(base)) {
      outcome = `its base model "${base}" is not served by any Open WebUI connection: grants nothing`;
    } else if (baseRow && !baseRow.isActive) {
      outcome = `its base model "${base}" is inactive in Open WebUI: grants nothing through it`;
    } else if (idProblems(base, MODEL_ID_RULE).length > 0) {
      outcome = `its base model id "${base}" is not a usable model id: grants nothing`;
    } else {
      if (!effective.has(base)) {
        // A base with no row of its own: Open WebUI shows it to nobody directly, but the
        // preset's readers use it through the preset.
        plan.models.push({ id: base, name: base, isActive: true, origin: 'preset-base' });
        effective.set(base, noReaders(null));
        plan.notes.push({
          model_id: base,
          note: 'has no row of its own in Open WebUI: imported (named by its id) for the readers of its presets',
        });
      }
      mergeReaders(effective.get(base)!, p.readers);
      const via = viaPreset.get(base) ?? new Map<string, Readers>();
      via.set(p.id, p.readers);
      viaPreset.set(base, via);
      outcome = `its readers may use its base model "${base}", which is granted to them`;
    }
    plan.skipped.push({
      table: 'model',
      id: p.id,
      reason: `custom model (preset on "${base}"): not a catalog model itself; ${outcome}`,
    });
  }

  const reads = (userId: string, r: Readers) =>
    r.public ||
    r.owner === userId ||
    r.users.has(userId) ||
    (groupsOf.get(userId) ?? []).some((g) => r.groups.has(g));
  const memberOf = (u: PlannedUser): PlannedMember => ({
    userId: u.id,
    role: u.role === 'admin' ? 'admin' : 'member',
  });

  // The default organization: every user who is not pending; a model when all of them read it.
  const everyone = plan.users.filter((u) => u.role !== 'pending');
  const defaultGrants = plan.models
    .filter((m) => {
      const r = effective.get(m.id)!;
      return r.public || (everyone.length > 0 && everyone.every((u) => reads(u.id, r)));
    })
    .map((m) => ({ modelId: m.id, isActive: m.isActive }));
  plan.organizations.push({
    id: options.externalUser.toLowerCase(),
    name: options.name,
    externalUser: options.externalUser,
    groupId: null,
    members: everyone.map(memberOf),
    grants: defaultGrants,
  });
  if (options.groupsAsOrganizations) {
    for (const [groupId, g] of groups) {
      const ids = groupOrganization(options.externalUser, groupId);
      const name = displayNameProblem(g.name) === null ? g.name : `Open WebUI group ${groupId}`;
      if (name !== g.name) {
        plan.notes.push({
          model_id: '',
          note: `group "${groupId}" has no usable name (${displayNameProblem(g.name)}): its organization is called "${name}"`,
        });
      }
      const members = g.members.map((id) => users.get(id)!).filter((u) => u.role !== 'pending');
      plan.organizations.push({
        id: ids.id,
        name,
        externalUser: ids.externalUser,
        groupId,
        members: members.map(memberOf),
        grants: plan.models
          .filter((m) => {
            const r = effective.get(m.id)!;
            return (
              !r.public && r.groups.has(groupId) && !defaultGrants.some((d) => d.modelId === m.id)
            );
          })
          .map((m) => ({ modelId: m.id, isActive: m.isActive })),
      });
    }
  }

  // What Open WebUI let a user read that none of their organizations grants here.
  const granted = new Map<string, Set<string>>();
  for (const org of plan.organizations) {
    for (const m of org.members) {
      const set = granted.get(m.userId) ?? new Set<string>();
      org.grants.forEach((g) => set.add(g.modelId));
      granted.set(m.userId, set);
    }
  }
  const groupName = (id: string) => `group "${groups.get(id)?.name ?? id}"`;
  const how = (userId: string, r: Readers): string =>
    r.owner === userId
      ? 'owner'
      : r.users.has(userId)
        ? 'user grant'
        : groupName((groupsOf.get(userId) ?? []).find((g) => r.groups.has(g)) ?? '');
  for (const m of plan.models.filter((x) => x.isActive)) {
    const r = effective.get(m.id)!;
    if (r.public) {
      continue;
    }
    for (const u of everyone) {
      if (granted.get(u.id)?.has(m.id) || !reads(u.id, r)) {
        continue;
      }
      const own = byId.get(m.id);
      const direct = own !== undefined && reads(u.id, own.readers);
      const preset = direct
        ? undefined
        : [...(viaPreset.get(m.id) ?? new Map<string, Readers>())].find(([, pr]) =>
            reads(u.id, pr),
          );
      plan.notCarriedOver.push({
        model_id: m.id,
        user_id: u.id,
        via: preset ? `${how(u.id, preset[1])} via preset ${preset[0]}` : how(u.id, own!.readers),
      });
    }
  }
  for (const m of plan.models) {
    const r = effective.get(m.id)!;
    if (!r.public && !defaultGrants.some((g) => g.modelId === m.id)) {
      const lost = plan.notCarriedOver.filter((n) => n.model_id === m.id).length;
      plan.notes.push({
        model_id: m.id,
        note: `restricted in Open WebUI (${[
          r.groups.size > 0 ? `${r.groups.size} group(s)` : '',
          r.users.size > 0 ? `${r.users.size} user grant(s)` : '',
          r.owner ? 'its owner' : '',
        ]
          .filter(Boolean)
          .join(', ')}): not granted to the default organization${
          lost > 0 ? `; ${lost} user(s) who read it there get it through no organization here` : ''
        }`,
      });
    }
  }
  const admins = plan.users.filter((u) => u.role === 'admin').length;
  if (admins > 0) {
    plan.warnings.push(
      `${admins} Open WebUI admin(s) saw every model there (its admin bypass); here they use the models of their organizations like everyone else`,
    );
  }
  if (!plan.served.known) {
    plan.warnings.push(plan.served.note);
  }
  return plan;
}
