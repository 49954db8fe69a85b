import { SkippedRow } from './plan';

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

export interface MigrationReport {
  tool: 'migrate-organizations';
  status: 'migrated' | 'dry_run' | 'failed';
  dry_run: boolean;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  source: { kind: 'sqlite' | 'postgres' | null; location: string };
  target: { kind: 'sqlite' | 'postgres'; location: string };
  backup_path: string | null;
  organization: {
    id: string;
    name: string;
    external_user: string;
    outcome: 'created' | 'updated' | 'unchanged' | null;
    is_active: boolean | null;
  };
  counts: {
    users: Outcome & { source: number; skipped: number; pending: number };
    memberships: Outcome & { expected: number; differing: number };
    models: Outcome & { source: number; provider: number; custom: number; skipped: number };
    grants: Outcome & { expected: number; differing: number };
    auto_grants: number;
    audit_events: number;
  };
  /** Sum over the organization, users, memberships, models and grants. */
  totals: Outcome;
  changed: boolean;
  skipped: SkippedRow[];
  warnings: string[];
  error?: { message: string; exit_code: number };
}

export function emptyOutcome(): Outcome {
  return { created: 0, updated: 0, unchanged: 0 };
}

/** What the transaction did: the report fields that only the target can tell. */
export type ApplyResult = Pick<
  MigrationReport,
  'organization' | 'counts' | 'totals' | 'changed' | 'warnings' | 'skipped'
>;
