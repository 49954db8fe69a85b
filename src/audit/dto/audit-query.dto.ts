import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { PageQuery } from '../../common/pagination.dto';
import { IsTimestamp, NoControlCharacters, TIMESTAMP_RULE } from '../../common/validators';

export const AUDIT_TARGET_TYPES = ['user', 'model', 'organization', 'membership', 'grant'] as const;

export const AUDIT_FORMATS = ['json', 'csv'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

export class AuditQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Actor: `user:<id>`, `api-key:<fingerprint>` or `system`.' })
  @IsOptional()
  @IsString()
  @MaxLength(300)
  @NoControlCharacters()
  actor?: string;

  @ApiPropertyOptional({ enum: AUDIT_TARGET_TYPES })
  @IsOptional()
  @IsIn(AUDIT_TARGET_TYPES)
  target_type?: string;

  @ApiPropertyOptional({
    description: 'Target id; memberships are `<org>/<user>`, grants `<org>/<model>`.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(600)
  @NoControlCharacters()
  target_id?: string;

  @ApiPropertyOptional({ example: 'membership.update' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @NoControlCharacters()
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

  @ApiPropertyOptional({
    enum: AUDIT_FORMATS,
    default: 'json',
    description:
      'csv exports every matching event (newest first; limit and offset do not apply) as text/csv.',
  })
  @IsOptional()
  @IsIn(AUDIT_FORMATS)
  format?: AuditFormat;
}
