import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  Max,
  Min,
  ValidateIf,
} from 'class-validator';
import { BUDGET_PERIODS } from '../budget-period';

/** Most a budget may be per period: nano-dollar sums stay exact in a double. */
export const MAX_BUDGET_USD = 1_000_000;
export const MAX_RPM = 10_000_000;
export const MAX_TPM = 1_000_000_000_000;

/** Sent and not null: checked. Absent: unchanged. null: cleared (where allowed). */
const Sent = () =>
  ValidateIf((_body: object, value: unknown) => value !== undefined && value !== null);
/** Sent (null refused: the field has no "none"). */
const SentNotNull = () => ValidateIf((_body: object, value: unknown) => value !== undefined);

function Money(field: string): PropertyDecorator[] {
  return [
    IsNumber(
      { allowNaN: false, allowInfinity: false, maxDecimalPlaces: 9 },
      { message: `${field} must be a number of USD with at most 9 decimals, or null for none` },
    ),
    Min(0, { message: `${field} must be at least 0 (0 allows no spending)` }),
    Max(MAX_BUDGET_USD, { message: `${field} must be at most ${MAX_BUDGET_USD}` }),
  ];
}

function PerMinute(field: string, max: number): PropertyDecorator[] {
  return [
    IsInt({ message: `${field} must be a whole number per minute, or null for no limit` }),
    Min(1, { message: `${field} must be at least 1 (null removes the limit)` }),
    Max(max, { message: `${field} must be at most ${max}` }),
  ];
}

const apply =
  (decorators: PropertyDecorator[]): PropertyDecorator =>
  (target, key) =>
    decorators.forEach((d) => d(target, key));

export class UpdateOrganizationBudgetBody {
  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    example: 250,
    description:
      'USD per period; null removes the budget; 0 allows no spending (every model is refused with budget_exhausted).',
  })
  @Sent()
  @apply(Money('budget_usd'))
  budget_usd?: number | null;

  @ApiPropertyOptional({
    enum: BUDGET_PERIODS,
    description: 'UTC day, Monday-to-Sunday week, or calendar month.',
  })
  @SentNotNull()
  @IsIn(BUDGET_PERIODS, { message: `budget_period must be one of ${BUDGET_PERIODS.join(', ')}` })
  budget_period?: (typeof BUDGET_PERIODS)[number];

  @ApiPropertyOptional({
    type: [Number],
    example: [0.8, 1],
    description:
      'Fractions of the budget (above 0, at most 1) at which to alert, once each per period; at most 10.',
  })
  @SentNotNull()
  @IsArray({ message: 'alert_thresholds must be an array of fractions such as [0.8, 1]' })
  @ArrayMaxSize(10, { message: 'alert_thresholds must hold at most 10 thresholds' })
  @ArrayUnique({ message: 'alert_thresholds must not repeat a threshold' })
  @IsNumber(
    { allowNaN: false, allowInfinity: false, maxDecimalPlaces: 4 },
    { each: true, message: 'each alert threshold must be a number with at most 4 decimals' },
  )
  @Min(0.0001, { each: true, message: 'each alert threshold must be above 0' })
  @Max(1, { each: true, message: 'each alert threshold must be at most 1 (1 = the whole budget)' })
  alert_thresholds?: number[];

  @ApiPropertyOptional({
    description:
      'Let members call models without a catalog price under the budget (their cost is counted after the call only).',
  })
  @SentNotNull()
  @IsBoolean({ message: 'allow_unpriced_models must be true or false' })
  allow_unpriced_models?: boolean;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description: 'Calls per minute for the whole organization; null: none.',
  })
  @Sent()
  @apply(PerMinute('rpm_limit', MAX_RPM))
  rpm_limit?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description: 'Tokens per minute for the whole organization; null: none.',
  })
  @Sent()
  @apply(PerMinute('tpm_limit', MAX_TPM))
  tpm_limit?: number | null;
}

export class UpdateMemberBudgetBody {
  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    example: 20,
    description:
      "USD per the organization's period for this member, within the organization's budget; null: none.",
  })
  @Sent()
  @apply(Money('budget_usd'))
  budget_usd?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description: 'Calls per minute for this member; null: none.',
  })
  @Sent()
  @apply(PerMinute('rpm_limit', MAX_RPM))
  rpm_limit?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description: 'Tokens per minute for this member; null: none.',
  })
  @Sent()
  @apply(PerMinute('tpm_limit', MAX_TPM))
  tpm_limit?: number | null;
}

export class SpendResponse {
  @ApiProperty({ example: '2026-12-01T00:00:00.000Z' }) period_start: string;
  @ApiProperty({ example: '2027-01-01T00:00:00.000Z', description: 'When the budget resets.' })
  resets_at: string;
  @ApiProperty({ description: 'Settled spend this period, USD.' }) spent_usd: number;
  @ApiProperty({ description: 'Held by calls in flight, USD.' }) reserved_usd: number;
  @ApiProperty({
    nullable: true,
    type: Number,
    description: 'Budget minus spent and reserved; null without a budget.',
  })
  remaining_usd: number | null;
}

export class OrganizationBudgetResponse {
  @ApiProperty({ example: 'acme' }) organization_id: string;
  @ApiProperty({ nullable: true, type: Number }) budget_usd: number | null;
  @ApiProperty({ enum: BUDGET_PERIODS }) budget_period: string;
  @ApiProperty({ type: [Number] }) alert_thresholds: number[];
  @ApiProperty() allow_unpriced_models: boolean;
  @ApiProperty({ nullable: true, type: Number }) rpm_limit: number | null;
  @ApiProperty({ nullable: true, type: Number }) tpm_limit: number | null;
  @ApiProperty({ type: SpendResponse, description: 'The current period.' }) current: SpendResponse;
}

export class MemberBudgetResponse {
  @ApiProperty({ example: 'acme' }) organization_id: string;
  @ApiProperty({ example: 'u-123' }) user_id: string;
  @ApiProperty({ nullable: true, type: Number }) budget_usd: number | null;
  @ApiProperty({ nullable: true, type: Number }) rpm_limit: number | null;
  @ApiProperty({ nullable: true, type: Number }) tpm_limit: number | null;
  @ApiProperty({ enum: BUDGET_PERIODS, description: "The organization's period." })
  budget_period: string;
  @ApiProperty({ type: SpendResponse, description: "The member's spend in the current period." })
  current: SpendResponse;
}
