import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, MaxLength } from 'class-validator';
import { PageQuery } from '../../common/pagination.dto';
import { NoControlCharacters } from '../../common/validators';

export const AUDIT_TARGET_TYPES = ['user', 'model', 'organization', 'membership', 'grant'] as const;

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
    description: 'Events at or after this ISO 8601 time.',
    example: '2026-01-01T00:00:00Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({ description: 'Events before this ISO 8601 time.' })
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;
}
