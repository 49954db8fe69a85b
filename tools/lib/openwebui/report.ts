import { ModelNote, NotCarriedOver, SkippedRow } from './plan';

// Constants and shapes shared by the migration's parts and its command line.

/** The audit actor of every event this tool writes. */
export const MIGRATION_ACTOR = 'tool:migrate-organizations';

/** Exit codes beyond the source ones (3, 4) and usage (2); documented in --help. */
export const EXIT_FAILED = 1;
export const EXIT_INVALID_OPTIONS = 2;
export const EXIT_CONFLICT = 5;
export const EXIT_VERIFICATION = 6;
export const EXIT_TARGET_UNAVAILABLE = 7;

export const PHASES = [
  'organization',
  'users',
  'memberships',
  'models',
  'grants',
  'audit',
] as const;
export type Phase = (typeof PHASES)[number];

export interface Outcome {
  created: number;
  updated: number;
  unchanged: number;
}

/** Rows this tool brought in earlier that Open WebUI no longer asks for. */
export interface Reconciliation {
  /** Whether the removals below were applied (--prune) or only listed. */
  pruned: boolean;
  users_deleted_in_openwebui: { user_id: string; removed: boolean }[];
  memberships: { organization_id: string; user_id: string; reason: string; removed: boolean }[];
  grants: { organization_id: string; model_id: string; reason: string; removed: boolean }[];
  /** Membership roles that followed a role change in Open WebUI (demotions, promotions). */
  role_changes: { organization_id: string; user_id: string; from: string; to: string }[];
}

export interface MigrationReport {
  tool: 'migrate-organizations';
  status: 'migrated' | 'dry_run' | 'failed';
  dry_run: boolean;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  source: {
    kind: 'sqlite' | 'postgres' | null;
    location: string;
    /** How it was read without writing to it (in place read-only, private copy, read-only transaction). */
    read_mode: string | null;
    /** Where per-model access came from: the access_grant table or the older access_control column. */
    access: 'access_grant' | 'access_control' | null;
  };
  target: { kind: 'sqlite' | 'postgres'; location: string };
  /** SQLite: a copy of the database before the run; PostgreSQL: the undo file. Null: none. */
  backup_path: string | null;
  /** Why there is no backup, or how to use it. */
  backup_note: string | null;
  groups_as_organizations: boolean;
  organization: {
    id: string;
    name: string;
    external_user: string;
    outcome: 'created' | 'updated' | 'unchanged' | null;
    is_active: boolean | null;
  };
  /** Every organization the run keeps in step: the default one first, then one per group. */
  organizations: {
    id: string;
    name: string;
    external_user: string;
    group_id: string | null;
    outcome: 'created' | 'updated' | 'unchanged';
    members: number;
    grants: number;
  }[];
  counts: {
    users: Outcome & { source: number; skipped: number; pending: number; deleted: number };
    memberships: Outcome & { expected: number; differing: number; removed: number };
    models: Outcome & {
      source: number;
      provider: number;
      custom: number;
      skipped: number;
      from_presets: number;
    };
    grants: Outcome & { expected: number; differing: number; removed: number };
    groups: number;
    auto_grants: number;
    audit_events: number;
  };
  /** Sum over the organizations, users, memberships, models and grants. */
  totals: Outcome;
  changed: boolean;
  skipped: SkippedRow[];
  model_notes: ModelNote[];
  /** Each (model, user) Open WebUI allowed that no organization of the user grants here. */
  not_carried_over: NotCarriedOver[];
  reconcile: Reconciliation;
  warnings: string[];
  error?: { message: string; exit_code: number };
}

export function emptyOutcome(): Outcome {
  return { created: 0, updated: 0, unchanged: 0 };
}

export function emptyReconciliation(pruned: boolean): Reconciliation {
  return {
    pruned,
    users_deleted_in_openwebui: [],
    memberships: [],
    grants: [],
    role_changes: [],
  };
}

/** What the transaction did: the report fields that only the target can tell. */
export type ApplyResult = Pick<
  MigrationReport,
  'organization' | 'organizations' | 'counts' | 'totals' | 'changed' | 'warnings' | 'reconcile'
>;
