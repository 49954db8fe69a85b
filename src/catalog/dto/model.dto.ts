import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsNumber,
  IsOptional,
  Max,
  Min,
  IsString,
  MaxLength,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { PageOf, PageQueryByActivity } from '../../common/pagination.dto';
import { NoControlCharacters, OptionalOneOf, OptionalText } from '../../common/validators';

export class UpsertModelBody {
  @ApiProperty({ example: 'Claude 3.5 Sonnet (beta)', maxLength: 255 })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @NoControlCharacters()
  name: string;

  @ApiPropertyOptional({
    nullable: true,
    example: null,
    description: 'The model this one is built on; null (default) for a provider model.',
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @NoControlCharacters()
  base_model_id?: string | null;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  is_active?: boolean;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 0,
    maximum: 1,
    example: 0.0000025,
    description:
      'USD per prompt token (OpenRouter pricing.prompt). Omitted: kept as it is (null for a new model); null: unknown.',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  prompt_price_usd?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 0,
    maximum: 1,
    example: 0.00001,
    description: 'USD per completion token (OpenRouter pricing.completion). Omitted: kept.',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  completion_price_usd?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 1,
    maximum: 100000000,
    example: 128000,
    description: 'Context window in tokens. Omitted: kept.',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000_000)
  context_length?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 1,
    maximum: 100000000,
    example: 16384,
    description: 'Most completion tokens one call may produce (top_provider). Omitted: kept.',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000_000)
  max_completion_tokens?: number | null;
}

export class ImportModelItem extends UpsertModelBody {
  @ApiProperty({ example: 'openai/gpt-4o', maxLength: 255 })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @NoControlCharacters()
  id: string;
}

export const MAX_BULK = 1000;

export class ImportModelsBody {
  @ApiProperty({ type: [ImportModelItem], maxItems: MAX_BULK })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BULK)
  @ValidateNested({ each: true })
  @Type(() => ImportModelItem)
  models: ImportModelItem[];
}

export class ImportModelsResponse {
  @ApiProperty() created: number;
  @ApiProperty() updated: number;
  @ApiProperty() unchanged: number;
  @ApiProperty({ description: 'Grants added to organizations that auto-grant new models.' })
  auto_granted: number;
}

export class ListModelsQuery extends PageQueryByActivity {
  @OptionalText(255, { description: 'Case-insensitive substring of id or name.' })
  search?: string;

  @OptionalOneOf(['provider', 'custom'], { description: 'provider: base_model_id is null.' })
  kind?: 'provider' | 'custom';
}

export class ModelResponse {
  @ApiProperty({ example: 'anthropic/claude-3.5-sonnet:beta' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ nullable: true, type: String }) base_model_id: string | null;
  @ApiProperty() is_active: boolean;
  @ApiProperty({ nullable: true, type: Number, description: 'USD per prompt token.' })
  prompt_price_usd: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'USD per completion token.' })
  completion_price_usd: number | null;
  @ApiProperty({ nullable: true, type: Number }) context_length: number | null;
  @ApiProperty({ nullable: true, type: Number }) max_completion_tokens: number | null;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class ModelPage extends PageOf(ModelResponse) {}

export class CatalogSyncResponse {
  @ApiProperty({ description: "Models in the upstream's list." }) upstream_models: number;
  @ApiProperty() created: number;
  @ApiProperty({ description: 'Known models whose name, prices or limits changed.' })
  updated: number;
  @ApiProperty() unchanged: number;
  @ApiProperty({
    description: 'Active provider models the upstream no longer lists, now inactive.',
  })
  deactivated: number;
  @ApiProperty({ description: 'Grants added to organizations that auto-grant new models.' })
  auto_granted: number;
}
