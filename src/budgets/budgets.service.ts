import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Principal } from '../auth/principal';
import { now } from '../common/time';
import { DatabaseService } from '../database/database.service';
import { requireSomeField, ValidationFailedException } from '../common/validation';
import {
  bind,
  BudgetLedgerService,
  ORGANIZATION_ROW,
  scopeKey,
  SpendScope,
} from './budget-ledger.service';
import { BudgetAlertsService } from './budget-alerts.service';
import { BudgetPeriod, periodOf } from './budget-period';
import {
  nanosToUsd,
  numberOrNull,
  parsePeriod,
  parseThresholds,
  usdToNanos,
} from './budget-settings';
import { toBool } from '../model-access/hot-queries';
import {
  MemberBudgetResponse,
  OrganizationBudgetResponse,
  SpendResponse,
  UpdateMemberBudgetBody,
  UpdateOrganizationBudgetBody,
} from './dto/budget.dto';

interface OrganizationSettings {
  budget_usd: number | null;
  budget_period: BudgetPeriod;
  alert_thresholds: number[];
  allow_unpriced_models: boolean;
  rpm_limit: number | null;
  tpm_limit: number | null;
}

interface MemberSettings {
  budget_usd: number | null;
  rpm_limit: number | null;
  tpm_limit: number | null;
}

const ORGANIZATION_COLUMNS =
  'budget_usd, budget_period, alert_thresholds, allow_unpriced_models, rpm_limit, tpm_limit';

function organizationSettings(r: Record<string, unknown>): OrganizationSettings {
  return {
    budget_usd: numberOrNull(r.budget_usd),
    budget_period: parsePeriod(r.budget_period),
    alert_thresholds: parseThresholds(r.alert_thresholds),
    allow_unpriced_models: toBool(r.allow_unpriced_models),
    rpm_limit: numberOrNull(r.rpm_limit),
    tpm_limit: numberOrNull(r.tpm_limit),
  };
}

function memberSettings(r: Record<string, unknown>): MemberSettings {
  return {
    budget_usd: numberOrNull(r.budget_usd),
    rpm_limit: numberOrNull(r.rpm_limit),
    tpm_limit: numberOrNull(r.tpm_limit),
  };
}

function toSpendResponse(
  budgetUsd: number | null,
  window: { start: string; end: string },
  row: { spentNanos: number; reservedNanos: number } | undefined,
): SpendResponse {
  const spent = row?.spentNanos ?? 0;
  const reserved = row?.reservedNanos ?? 0;
  return {
    period_start: window.start,
    resets_at: window.end,
    spent_usd: nanosToUsd(spent),
    reserved_usd: nanosToUsd(reserved),
    remaining_usd:
      budgetUsd === null ? null : nanosToUsd(Math.max(0, usdToNanos(budgetUsd) - spent - reserved)),
  };
}

/** Budget and rate-limit settings of organizations and members: read, change (audited). */
@Injectable()
export class BudgetsService {
  private readonly logger = new Logger(BudgetsService.name);

  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly ledger: BudgetLedgerService,
    private readonly alerts: BudgetAlertsService,
  ) {}

  async organization(orgId: string): Promise<OrganizationBudgetResponse> {
    const settings = await this.db.read((m) => this.findOrganization(m, orgId));
    return this.organizationResponse(orgId, settings);
  }

  async updateOrganization(
    actor: Principal,
    orgId: string,
    body: UpdateOrganizationBudgetBody,
  ): Promise<OrganizationBudgetResponse> {
    requireSomeField(body, [
      'budget_usd',
      'budget_period',
      'alert_thresholds',
      'allow_unpriced_models',
      'rpm_limit',
      'tpm_limit',
    ]);
    const after = await this.db.write(async (tx) => {
      const before = await this.findOrganization(tx, orgId, true);
      const next: OrganizationSettings = {
        budget_usd: body.budget_usd === undefined ? before.budget_usd : body.budget_usd,
        budget_period: body.budget_period ?? before.budget_period,
        alert_thresholds:
          body.alert_thresholds === undefined
            ? before.alert_thresholds
            : [...body.alert_thresholds].sort((a, b) => a - b),
        allow_unpriced_models: body.allow_unpriced_models ?? before.allow_unpriced_models,
        rpm_limit: body.rpm_limit === undefined ? before.rpm_limit : body.rpm_limit,
        tpm_limit: body.tpm_limit === undefined ? before.tpm_limit : body.tpm_limit,
      };
      await tx.query(
        ...this.sql(
          'UPDATE organizations SET budget_usd = $2, budget_period = $3, alert_thresholds = $4, ' +
            'allow_unpriced_models = $5, rpm_limit = $6, tpm_limit = $7, updated_at = $8 WHERE id = $1',
          [
            orgId,
            next.budget_usd,
            next.budget_period,
            JSON.stringify(next.alert_thresholds),
            next.allow_unpriced_models,
            next.rpm_limit,
            next.tpm_limit,
            now(),
          ],
        ),
      );
      await this.audit.record(tx, actor, {
        action: 'organization.budget_update',
        targetType: 'organization',
        targetId: orgId,
        before,
        after: next,
      });
      return next;
    });
    const response = await this.organizationResponse(orgId, after);
    // A lower budget, a new threshold or another period can be crossed by the spend already
    // made: alert now, not at the next call (an exhausted budget has no next call).
    await this.alerts
      .spendChanged(
        orgId,
        {
          budgetUsd: after.budget_usd,
          budgetPeriod: after.budget_period,
          alertThresholds: after.alert_thresholds,
        },
        response.current.period_start,
        usdToNanos(response.current.spent_usd),
      )
      .catch((error: unknown) => this.logger.error(`budget alert failed: ${String(error)}`));
    return response;
  }

  async member(orgId: string, userId: string): Promise<MemberBudgetResponse> {
    const { settings, period } = await this.db.read(async (m) => ({
      settings: await this.findMember(m, orgId, userId),
      period: (await this.findOrganization(m, orgId)).budget_period,
    }));
    return this.memberResponse(orgId, userId, settings, period);
  }

  async updateMember(
    actor: Principal,
    orgId: string,
    userId: string,
    body: UpdateMemberBudgetBody,
  ): Promise<MemberBudgetResponse> {
    requireSomeField(body, ['budget_usd', 'rpm_limit', 'tpm_limit']);
    const { next, period } = await this.db.write(async (tx) => {
      const organization = await this.findOrganization(tx, orgId, true);
      const before = await this.findMember(tx, orgId, userId);
      const settings: MemberSettings = {
        budget_usd: body.budget_usd === undefined ? before.budget_usd : body.budget_usd,
        rpm_limit: body.rpm_limit === undefined ? before.rpm_limit : body.rpm_limit,
        tpm_limit: body.tpm_limit === undefined ? before.tpm_limit : body.tpm_limit,
      };
      if (
        body.budget_usd !== undefined &&
        settings.budget_usd !== null &&
        organization.budget_usd !== null &&
        settings.budget_usd > organization.budget_usd
      ) {
        throw new ValidationFailedException([
          {
            field: 'budget_usd',
            message: `budget_usd must be within the organization's budget (at most ${organization.budget_usd})`,
          },
        ]);
      }
      await tx.query(
        ...this.sql(
          'UPDATE organization_members SET budget_usd = $3, rpm_limit = $4, tpm_limit = $5, updated_at = $6 ' +
            'WHERE organization_id = $1 AND user_id = $2',
          [orgId, userId, settings.budget_usd, settings.rpm_limit, settings.tpm_limit, now()],
        ),
      );
      await this.audit.record(tx, actor, {
        action: 'membership.budget_update',
        targetType: 'membership',
        targetId: `${orgId}/${userId}`,
        before,
        after: settings,
      });
      return { next: settings, period: organization.budget_period };
    });
    return this.memberResponse(orgId, userId, next, period);
  }

  private async organizationResponse(
    orgId: string,
    s: OrganizationSettings,
  ): Promise<OrganizationBudgetResponse> {
    const window = periodOf(s.budget_period, this.ledger.now());
    const scope: SpendScope = {
      organizationId: orgId,
      userId: ORGANIZATION_ROW,
      periodStart: window.start,
    };
    const rows = await this.ledger.read([scope]);
    return {
      organization_id: orgId,
      ...s,
      current: toSpendResponse(
        s.budget_usd,
        window,
        rows.get(scopeKey(orgId, ORGANIZATION_ROW, window.start)),
      ),
    };
  }

  private async memberResponse(
    orgId: string,
    userId: string,
    s: MemberSettings,
    period: BudgetPeriod,
  ): Promise<MemberBudgetResponse> {
    const window = periodOf(period, this.ledger.now());
    const rows = await this.ledger.read([
      { organizationId: orgId, userId, periodStart: window.start },
    ]);
    return {
      organization_id: orgId,
      user_id: userId,
      ...s,
      budget_period: period,
      current: toSpendResponse(
        s.budget_usd,
        window,
        rows.get(scopeKey(orgId, userId, window.start)),
      ),
    };
  }

  private sql(text: string, params: unknown[]): [string, unknown[]] {
    return bind(this.db.kind, text, params);
  }

  private async findOrganization(
    m: EntityManager,
    orgId: string,
    lock = false,
  ): Promise<OrganizationSettings> {
    const forUpdate = lock && this.db.kind === 'postgres' ? ' FOR UPDATE' : '';
    const [row] = await m.query<Record<string, unknown>[]>(
      ...this.sql(`SELECT ${ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1${forUpdate}`, [
        orgId,
      ]),
    );
    if (!row) {
      throw new NotFoundException(`Organization "${orgId}" was not found.`);
    }
    return organizationSettings(row);
  }

  private async findMember(
    m: EntityManager,
    orgId: string,
    userId: string,
  ): Promise<MemberSettings> {
    const [row] = await m.query<Record<string, unknown>[]>(
      ...this.sql(
        'SELECT budget_usd, rpm_limit, tpm_limit FROM organization_members WHERE organization_id = $1 AND user_id = $2',
        [orgId, userId],
      ),
    );
    if (!row) {
      throw new NotFoundException(`User "${userId}" is not a member of organization "${orgId}".`);
    }
    return memberSettings(row);
  }
}
