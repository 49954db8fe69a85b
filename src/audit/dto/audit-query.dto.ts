import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { PageQuery } from '../../common/pagination.dto';
import { IsTimestamp, OptionalOneOf, OptionalText, TIMESTAMP_RULE } from '../../common/validators';

export const AUDIT_TARGET_TYPES = ['user', 'model', 'organization', 'membership', 'grant'] as const;

export const AUDIT_FORMATS = ['json', 'csv'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

export class AuditQuery extends PageQuery {
  @OptionalText(300, { description: 'Actor: `user:<id>`, `api-key:<fingerprint>` or `system`.' })
  actor?: string;

  @OptionalOneOf(AUDIT_TARGET_TYPES)
  target_type?: string;

  @OptionalText(600, {
    description: 'Target id; memberships are `<org>/<user>`, grants `<org>/<model>`.',
  })
  target_id?: string;

  @OptionalText(64, { example: 'membership.update' })
  action?: string;

  @ApiPropertyOptional({
    description: `Events at or after this time: ${TIMESTAMP_RULE}.`,
    example: '2026-01-01T00:00:00Z',
  })
  @IsOptional()
  @IsTimestamp()
  since?: string;

  @ApiPropertyOptional({ description: `Events before this time: ${TIMESTAMP_RULE}.` })
  @IsOptional()
  @IsTimestamp()
  until?: string;

  @OptionalOneOf(AUDIT_FORMATS, {
    default: 'json',
    description:
      'csv exports every matching event (newest first; limit and offset do not apply) as text/csv.',
  })
  format?: AuditFormat;
}
