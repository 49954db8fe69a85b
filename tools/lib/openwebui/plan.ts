import {
  hasControlCharacters,
  idProblems,
  MODEL_ID_RULE,
  USER_ID_RULE,
} from '../../../src/common/validators';
import { MemberRole } from '../../../src/memberships/entities/membership.entity';
import { USER_ROLES, UserRole } from '../../../src/users/entities/user.entity';
import { SourceModel, SourceUser } from './source';

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
}

export interface SkippedRow {
  table: 'user' | 'model';
  /** The row's id as text (may be empty or hold the characters that made it unusable). */
  id: string;
  reason: string;
}

/** What the source asks for, after every row was checked. */
export interface MigrationPlan {
  sourceUsers: number;
  sourceModels: number;
  users: PlannedUser[];
  /** Users whose role is not pending: they join the organization. */
  members: PlannedMember[];
  /** Provider models (base_model_id null): imported into the catalog and granted. */
  models: PlannedModel[];
  /** Custom models (base_model_id set): reported, neither imported nor granted. */
  customModels: { id: string; baseModelId: string }[];
  skipped: SkippedRow[];
}

const EMAIL = /^[^\s@]+@[^\s@]+$/;

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

/** Problems with a display name, matching what the API accepts. */
function nameProblem(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0) {
    return 'name is empty';
  }
  if (value.length > 255) {
    return `name is ${value.length} characters (at most 255)`;
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

/**
 * Checks every source row and decides what to migrate. Rows the service could not hold
 * (empty or over-long ids, control characters, bad emails, unknown roles, duplicate ids)
 * are skipped with the reason; nothing is guessed or truncated.
 */
export function planMigration(
  users: readonly SourceUser[],
  models: readonly SourceModel[],
  at: string,
): MigrationPlan {
  const plan: MigrationPlan = {
    sourceUsers: users.length,
    sourceModels: models.length,
    users: [],
    members: [],
    models: [],
    customModels: [],
    skipped: [],
  };
  const seenUsers = new Set<string>();
  for (const row of users) {
    const skip = (reason: string) =>
      plan.skipped.push({ table: 'user', id: displayId(row.id), reason });
    const id = asText(row.id);
    const idProblem = idProblems(id, USER_ID_RULE)[0];
    if (id === null || idProblem) {
      skip(idProblem ?? 'user_id must be a non-empty string');
      continue;
    }
    if (seenUsers.has(id)) {
      skip('duplicate id (an earlier row with this id was used)');
      continue;
    }
    const problem = nameProblem(row.name);
    if (problem) {
      skip(problem);
      continue;
    }
    const email = asText(row.email);
    if (email === null || email.length > 320 || !EMAIL.test(email)) {
      skip(
        email !== null && email.length > 320
          ? 'email is longer than 320 characters'
          : 'email does not look like name@domain',
      );
      continue;
    }
    const role = asText(row.role);
    if (role === null || !USER_ROLES.includes(role as UserRole)) {
      skip(`role "${role ?? ''}" is not one of ${USER_ROLES.join(', ')}`);
      continue;
    }
    seenUsers.add(id);
    plan.users.push({
      id,
      name: row.name as string,
      email,
      role: role as UserRole,
      createdAt: epochToIso(row.created_at) ?? at,
    });
    if (role !== 'pending') {
      plan.members.push({ userId: id, role: role === 'admin' ? 'admin' : 'member' });
    }
  }
  const seenModels = new Set<string>();
  for (const row of models) {
    const skip = (reason: string) =>
      plan.skipped.push({ table: 'model', id: displayId(row.id), reason });
    const id = asText(row.id);
    const idProblem = idProblems(id, MODEL_ID_RULE)[0];
    if (id === null || idProblem) {
      skip(idProblem ?? 'model_id must be a non-empty string');
      continue;
    }
    if (seenModels.has(id)) {
      skip('duplicate id (an earlier row with this id was used)');
      continue;
    }
    seenModels.add(id);
    const base = asText(row.base_model_id);
    if (base !== null && base !== '') {
      plan.customModels.push({ id, baseModelId: base });
      continue;
    }
    const problem = nameProblem(row.name);
    if (problem) {
      skip(problem);
      continue;
    }
    const isActive = parseActive(row.is_active);
    if (isActive === null) {
      skip(`is_active ${JSON.stringify(row.is_active)} is not a boolean`);
      continue;
    }
    plan.models.push({ id, name: row.name as string, isActive });
  }
  const providerIds = new Set(plan.models.map((m) => m.id));
  for (const custom of plan.customModels) {
    plan.skipped.push({
      table: 'model',
      id: custom.id,
      reason: `custom model (base_model_id "${custom.baseModelId}"): not imported or granted; ${
        providerIds.has(custom.baseModelId)
          ? 'its base model is granted'
          : 'its base model is not a provider model of this source'
      }`,
    });
  }
  return plan;
}
