import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional } from 'class-validator';

export const USAGE_GROUPS = ['day', 'user', 'model'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

export class UsageQuery {
  @ApiPropertyOptional({
    example: '2026-11-01T00:00:00Z',
    description: 'Start (inclusive, ISO 8601). Default: 30 days before `to`.',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({
    example: '2026-12-01T00:00:00Z',
    description: 'End (exclusive, ISO 8601). Default: now.',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;

  @ApiPropertyOptional({
    enum: USAGE_GROUPS,
    default: 'day',
    description: 'day (UTC date), user (user id) or model (model id).',
  })
  @IsOptional()
  @IsIn(USAGE_GROUPS)
  group_by?: UsageGroup;

  @ApiPropertyOptional({ enum: ['json', 'csv'], default: 'json' })
  @IsOptional()
  @IsIn(['json', 'csv'])
  format?: 'json' | 'csv';
}

export class UsageTotals {
  @ApiProperty({ example: 42, description: 'Calls forwarded upstream (ok, error and aborted).' })
  requests: number;
  @ApiProperty({ example: 12000 }) prompt_tokens: number;
  @ApiProperty({ example: 3400 }) completion_tokens: number;
  @ApiProperty({ example: 0.0734, description: "USD, from the upstream's usage.cost." })
  cost_usd: number;
}

export class UsageRow extends UsageTotals {
  @ApiProperty({ example: '2026-11-30', description: 'The day, user id or model id.' })
  key: string;
}

export class UsageReport {
  @ApiProperty({ type: [UsageRow] }) data: UsageRow[];
  @ApiProperty({ type: UsageTotals }) totals: UsageTotals;
  @ApiProperty({ enum: USAGE_GROUPS }) group_by: UsageGroup;
  @ApiProperty({ example: '2026-11-01T00:00:00.000Z' }) from: string;
  @ApiProperty({ example: '2026-12-01T00:00:00.000Z' }) to: string;
}
