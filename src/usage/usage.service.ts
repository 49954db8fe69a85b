import { Injectable, NotFoundException } from '@nestjs/common';
import { ValidationFailedException } from '../common/validation';
import { DatabaseService } from '../database/database.service';
import { OrganizationEntity } from '../organizations/entities/organization.entity';
import { UsageQuery, UsageReport, UsageRow, UsageTotals } from './dto/usage.dto';
import { UsageEventEntity } from './entities/usage-event.entity';

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_DAYS = 30;

/** Grouping expressions (portable SQL: created_at is an ISO 8601 string). */
const GROUP_KEYS = {
  day: 'SUBSTR(u.created_at, 1, 10)',
  user: 'u.user_id',
  model: 'u.model_id',
} as const;

/** Reads of the usage ledger: an organization's, or one user's, grouped and totalled. */
@Injectable()
export class UsageService {
  constructor(private readonly db: DatabaseService) {}

  async ofOrganization(organizationId: string, query: UsageQuery): Promise<UsageReport> {
    const exists = await this.db.read((m) =>
      m.getRepository(OrganizationEntity).exists({ where: { id: organizationId } }),
    );
    if (!exists) {
      throw new NotFoundException(`Organization "${organizationId}" was not found.`);
    }
    return this.report('organization_id', organizationId, query);
  }

  ofUser(userId: string, query: UsageQuery): Promise<UsageReport> {
    return this.report('user_id', userId, query);
  }

  private async report(
    column: 'organization_id' | 'user_id',
    value: string,
    query: UsageQuery,
  ): Promise<UsageReport> {
    const to = query.to === undefined ? new Date() : new Date(query.to);
    const from =
      query.from === undefined
        ? new Date(to.getTime() - DEFAULT_DAYS * DAY_MS)
        : new Date(query.from);
    for (const [field, date] of [
      ['from', from],
      ['to', to],
    ] as const) {
      if (Number.isNaN(date.getTime())) {
        throw new ValidationFailedException([
          { field, message: `${field} must be a date between years 0 and 9999` },
        ]);
      }
    }
    if (!(from.getTime() < to.getTime())) {
      throw new ValidationFailedException([{ field: 'from', message: 'from must be before to' }]);
    }
    const groupBy = query.group_by ?? 'day';
    const key = GROUP_KEYS[groupBy];
    const rows = await this.db.read((m) =>
      m
        .createQueryBuilder()
        .select(key, 'key')
        .addSelect('COUNT(*)', 'requests')
        .addSelect('COALESCE(SUM(u.prompt_tokens), 0)', 'prompt_tokens')
        .addSelect('COALESCE(SUM(u.completion_tokens), 0)', 'completion_tokens')
        .addSelect('COALESCE(SUM(u.cost_usd), 0)', 'cost_usd')
        .from(UsageEventEntity, 'u')
        .where(`u.${column} = :value`, { value })
        .andWhere('u.created_at >= :from AND u.created_at < :to', {
          from: from.toISOString(),
          to: to.toISOString(),
        })
        .groupBy(key)
        .orderBy(key, 'ASC')
        .getRawMany<Record<string, unknown>>(),
    );
    const data: UsageRow[] = rows.map((r) => ({
      key: String(r.key),
      requests: Number(r.requests),
      prompt_tokens: Number(r.prompt_tokens),
      completion_tokens: Number(r.completion_tokens),
      cost_usd: roundUsd(Number(r.cost_usd)),
    }));
    const totals: UsageTotals = {
      requests: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cost_usd: 0,
    };
    for (const row of data) {
      totals.requests += row.requests;
      totals.prompt_tokens += row.prompt_tokens;
      totals.completion_tokens += row.completion_tokens;
      totals.cost_usd += row.cost_usd;
    }
    totals.cost_usd = roundUsd(totals.cost_usd);
    return { data, totals, group_by: groupBy, from: from.toISOString(), to: to.toISOString() };
  }
}

/** Cost to a nano-dollar: sums of doubles otherwise print as 0.30000000000000004. */
function roundUsd(value: number): number {
  return Math.round(value * 1e9) / 1e9;
}

/** A report as CSV (RFC 4180), cells that a spreadsheet would run as formulas defused. */
export function usageCsv(report: UsageReport): string {
  const cell = (value: string | number): string => {
    let text = String(value);
    if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) {
      text = `'${text}`;
    }
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [[report.group_by, 'requests', 'prompt_tokens', 'completion_tokens', 'cost_usd']];
  for (const row of report.data) {
    lines.push(
      [row.key, row.requests, row.prompt_tokens, row.completion_tokens, row.cost_usd].map(String),
    );
  }
  const t = report.totals;
  lines.push(['total', t.requests, t.prompt_tokens, t.completion_tokens, t.cost_usd].map(String));
  return `${lines.map((l) => l.map((v, i) => (i === 0 ? cell(v) : v)).join(',')).join('\r\n')}\r\n`;
}
