import type { MembershipLimits } from '../model-access/access-rule';
import { toBool } from '../model-access/hot-queries';
import { BUDGET_PERIODS, BudgetPeriod } from './budget-period';

/** Money is kept in integer nano-dollars (1e-9 USD): exact sums on SQLite and PostgreSQL. */
export const NANOS_PER_USD = 1_000_000_000;

export function usdToNanos(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
}

/** A nullable numeric column as both drivers return it (PostgreSQL decimals are strings). */
export function numberOrNull(value: unknown): number | null {
  if (value === null || value === undefined) {
    return null;
  }
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export function parsePeriod(value: unknown): BudgetPeriod {
  return (BUDGET_PERIODS as readonly unknown[]).includes(value)
    ? (value as BudgetPeriod)
    : 'monthly';
}

/** alert_thresholds is stored as a JSON array of fractions, ascending. */
export function parseThresholds(value: unknown): number[] {
  try {
    const parsed: unknown = JSON.parse(String(value ?? '[]'));
    return Array.isArray(parsed) ? parsed.filter((t): t is number => typeof t === 'number') : [];
  } catch {
    return [];
  }
}

/** The budget columns of one membership row (organization's and member's, see MEMBERSHIPS_OF_USER). */
export function membershipLimits(r: Record<string, unknown>): MembershipLimits {
  return {
    budgetUsd: numberOrNull(r.budget_usd),
    budgetPeriod: parsePeriod(r.budget_period),
    alertThresholds: parseThresholds(r.alert_thresholds),
    allowUnpricedModels: toBool(r.allow_unpriced_models),
    rpmLimit: numberOrNull(r.rpm_limit),
    tpmLimit: numberOrNull(r.tpm_limit),
    memberBudgetUsd: numberOrNull(r.member_budget_usd),
    memberRpmLimit: numberOrNull(r.member_rpm_limit),
    memberTpmLimit: numberOrNull(r.member_tpm_limit),
  };
}
