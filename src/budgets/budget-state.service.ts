import { Injectable } from '@nestjs/common';
import type { UserView } from '../model-access/access-cache.service';
import type { MembershipRow } from '../model-access/access-rule';
import {
  BudgetLedgerService,
  ORGANIZATION_ROW,
  keyOfScope,
  SpendScope,
} from './budget-ledger.service';
import { periodOf } from './budget-period';
import { EntityManager } from 'typeorm';
import { nanosToUsd, parsePeriod, usdToNanos } from './budget-settings';

/** What /access/check reports about the budget behind a decision. */
export interface BudgetReport {
  remainingUsd: number;
  resetsAt: string;
}

/**
 * The budget side of the access rule. Spend changes on every gateway call, so it is never
 * cached with the access answers: for a user in an organization with a budget, each
 * decision asks the ledger what that organization has spent in the current period
 * (BudgetLedgerService.spentOf: kept in memory on SQLite, one primary-key lookup on
 * PostgreSQL). Users without budgets pay nothing: their cached answers are used as they are.
 */
@Injectable()
export class BudgetStateService {
  constructor(private readonly ledger: BudgetLedgerService) {}

  /** True when some usable membership of the view has an organization budget. */
  applies(view: UserView): boolean {
    return view.access.budgeted;
  }

  /** The view with the organizations whose budget is spent for the period marked exhausted. */
  async apply(view: UserView): Promise<UserView> {
    const budgeted = view.access.usableMemberships.filter((m) => m.limits.budgetUsd !== null);
    if (budgeted.length === 0) {
      return view;
    }
    const scopes = budgeted.map((m) => this.organizationScope(m));
    const spend = await this.ledger.spentOf(
      scopes.filter((_, i) => budgeted[i].limits.budgetUsd! > 0),
    );
    const exhausted = new Set<string>();
    budgeted.forEach((m, i) => {
      const spent = spend.get(keyOfScope(scopes[i])) ?? 0;
      if (spent >= usdToNanos(m.limits.budgetUsd!)) {
        exhausted.add(m.organizationId);
      }
    });
    return exhausted.size === 0 ? view : { ...view, access: view.access.withExhausted(exhausted) };
  }

  /** Every active organization whose budget for its current period is spent (the gateway key's union list). */
  async exhaustedOrganizations(manager: EntityManager): Promise<Set<string>> {
    const rows = await manager.query<Record<string, unknown>[]>(
      'SELECT id, budget_usd, budget_period FROM organizations WHERE budget_usd IS NOT NULL',
    );
    const budgets = rows.map((r) => ({
      id: String(r.id),
      nanos: usdToNanos(Number(r.budget_usd)),
      scope: {
        organizationId: String(r.id),
        userId: ORGANIZATION_ROW,
        periodStart: periodOf(parsePeriod(r.budget_period), this.ledger.now()).start,
      },
    }));
    const spend = await this.ledger.read(budgets.filter((b) => b.nanos > 0).map((b) => b.scope));
    return new Set(
      budgets
        .filter((b) => (spend.get(keyOfScope(b.scope))?.spentNanos ?? 0) >= b.nanos)
        .map((b) => b.id),
    );
  }

  /**
   * Remaining budget and reset time for a call through this membership: the smaller of the
   * organization's and the member's remaining budget (spent and reserved both count), or
   * null when neither has a budget.
   */
  async report(membership: MembershipRow, userId: string): Promise<BudgetReport | null> {
    const { budgetUsd, memberBudgetUsd, budgetPeriod } = membership.limits;
    if (budgetUsd === null && memberBudgetUsd === null) {
      return null;
    }
    const window = periodOf(budgetPeriod, this.ledger.now());
    const organization = this.organizationScope(membership);
    const member: SpendScope = { ...organization, userId };
    const rows = await this.ledger.read([organization, member]);
    const left = (budget: number | null, scope: SpendScope): number => {
      if (budget === null) {
        return Number.POSITIVE_INFINITY;
      }
      const row = rows.get(keyOfScope(scope));
      return Math.max(0, usdToNanos(budget) - (row ? row.spentNanos + row.reservedNanos : 0));
    };
    return {
      remainingUsd: nanosToUsd(
        Math.min(left(budgetUsd, organization), left(memberBudgetUsd, member)),
      ),
      resetsAt: window.end,
    };
  }

  private organizationScope(m: MembershipRow): SpendScope {
    return {
      organizationId: m.organizationId,
      userId: ORGANIZATION_ROW,
      periodStart: periodOf(m.limits.budgetPeriod, this.ledger.now()).start,
    };
  }
}
