import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsBoolean, IsOptional, IsString } from 'class-validator';
import { PageOf, PageQueryByActivity } from '../../common/pagination.dto';

export class PutGrantBody {
  @ApiPropertyOptional({
    default: true,
    description: 'false suspends the grant without deleting it.',
  })
  @IsOptional()
  @IsBoolean()
  is_active?: boolean;
}

export const MAX_BULK_GRANTS = 1000;

export class BulkGrantsBody {
  @ApiPropertyOptional({
    type: [String],
    example: ['openai/gpt-4o', 'anthropic/*'],
    description: 'Model ids or prefix patterns to grant (or reactivate).',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_BULK_GRANTS)
  @IsString({ each: true })
  grant?: string[];

  @ApiPropertyOptional({
    type: [String],
    example: ['mistralai/*'],
    description: 'Grants to remove.',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_BULK_GRANTS)
  @IsString({ each: true })
  revoke?: string[];
}

export class BulkGrantsResponse {
  @ApiProperty({ description: 'New grants.' }) granted: number;
  @ApiProperty({ description: 'Suspended grants made active again.' }) reactivated: number;
  @ApiProperty({ description: 'Already active.' }) unchanged: number;
  @ApiProperty({ description: 'Grants removed.' }) revoked: number;
  @ApiProperty({ description: 'Revocations of grants that did not exist.' }) not_granted: number;
}

export class ListGrantsQuery extends PageQueryByActivity {}

export class GrantResponse {
  @ApiProperty({ example: 'acme' }) organization_id: string;
  @ApiProperty({
    example: 'openai/*',
    description: 'A catalog model id or a prefix pattern ending in *.',
  })
  model_id: string;
  @ApiProperty() is_pattern: boolean;
  @ApiProperty() is_active: boolean;
  @ApiProperty({ description: 'Catalog models this grant covers now (active or not).' })
  covers: number;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class GrantPage extends PageOf(GrantResponse) {}
