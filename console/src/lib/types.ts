/** Response shapes of the public API (see /docs-json); fields a newer server adds are optional. */

export interface Organization {
  id: string;
  name: string;
  external_user: string;
  is_active: boolean;
  auto_grant_new_models: boolean;
  member_count: number;
  grant_count: number;
  created_at: string;
  updated_at: string;
  budget_usd?: number | null;
  budget_period?: 'daily' | 'weekly' | 'monthly' | null;
  alert_thresholds?: number[] | null;
  rpm_limit?: number | null;
  tpm_limit?: number | null;
  email_domains?: string[] | null;
}

export interface Member {
  organization_id: string;
  user_id: string;
  user_name: string;
  user_email: string;
  role: 'member' | 'admin';
  is_active: boolean;
  joined_at: string;
  updated_at: string;
  budget_usd?: number | null;
  rpm_limit?: number | null;
  tpm_limit?: number | null;
}

export interface Grant {
  organization_id: string;
  model_id: string;
  is_pattern: boolean;
  is_active: boolean;
  covers: number;
  created_at: string;
  updated_at: string;
}

export interface Model {
  id: string;
  name: string;
  base_model_id: string | null;
  is_active: boolean;
  created_at: string;
  updated_at: string;
}

export interface User {
  id: string;
  name: string;
  email: string;
  role: 'pending' | 'user' | 'admin';
  created_at: string;
  updated_at: string;
}

export interface UserOrganization {
  organization_id: string;
  organization_name: string;
  organization_active: boolean;
  role: 'member' | 'admin';
  is_active: boolean;
  openrouter_user: string;
}

export interface AccessibleModel {
  id: string;
  name: string;
  base_model_id: string | null;
  openrouter_user: string;
  organizations: { id: string; name: string; openrouter_user: string }[];
}

export interface AccessCheck {
  user_id: string;
  model_id: string;
  allowed: boolean;
  organization_id: string | null;
  openrouter_user: string | null;
  reason: string;
  budget_remaining_usd?: number | null;
  budget_resets_at?: string | null;
}

export interface AuditEvent {
  id: number;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  before: unknown;
  after: unknown;
  created_at: string;
}

export interface UsageRow {
  key: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

export interface UsageReport {
  data: UsageRow[];
  totals: Omit<UsageRow, 'key'>;
}
