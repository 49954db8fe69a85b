import { ApiProperty } from '@nestjs/swagger';
import { REFUSAL_REASONS } from '../access-rule';

export class GrantingOrganizationResponse {
  @ApiProperty({ example: 'acme' }) id: string;
  @ApiProperty({ example: 'Acme' }) name: string;
  @ApiProperty({ example: 'mai_client_acme_user_1a2b3c4d' }) openrouter_user: string;
}

export class AccessibleModelResponse {
  @ApiProperty({ example: 'openai/gpt-4o' }) id: string;
  @ApiProperty({ example: 'GPT-4o' }) name: string;
  @ApiProperty({ nullable: true, type: String }) base_model_id: string | null;
  @ApiProperty({
    description: 'The OpenRouter user value through the first granting organization.',
  })
  openrouter_user: string;
  @ApiProperty({
    type: [GrantingOrganizationResponse],
    description: 'Every organization that grants it, by id.',
  })
  organizations: GrantingOrganizationResponse[];
}

export class UserModelsResponse {
  @ApiProperty() user_id: string;
  @ApiProperty({ type: [AccessibleModelResponse] }) data: AccessibleModelResponse[];
}

export class AccessCheckResponse {
  @ApiProperty() user_id: string;
  @ApiProperty() model_id: string;
  @ApiProperty() allowed: boolean;
  @ApiProperty({
    nullable: true,
    type: String,
    description: 'The granting organization (first by id).',
  })
  organization_id: string | null;
  @ApiProperty({ nullable: true, type: String }) openrouter_user: string | null;
  @ApiProperty({
    enum: ['granted', ...REFUSAL_REASONS],
    description:
      'Why, especially when refused. budget_exhausted: an organization would grant it, but every such one has spent its budget for the period.',
  })
  reason: string;
  @ApiProperty({
    nullable: true,
    type: Number,
    description:
      "USD left this period through the deciding organization (the smaller of its budget and the member's own, reservations counted); null when no budget applies.",
  })
  budget_remaining_usd: number | null;
  @ApiProperty({
    nullable: true,
    type: String,
    description:
      'When that budget resets (start of the next UTC period); null when no budget applies.',
  })
  budget_resets_at: string | null;
}

export class OpenAiModel {
  @ApiProperty({ example: 'openai/gpt-4o' }) id: string;
  @ApiProperty({ example: 'model' }) object: 'model';
  @ApiProperty({ description: 'Unix seconds when the model entered the catalog.' }) created: number;
  @ApiProperty({ description: 'The organization that grants it (first by id).', example: 'acme' })
  owned_by: string;
}

export class OpenAiModelList {
  @ApiProperty({ example: 'list' }) object: 'list';
  @ApiProperty({ type: [OpenAiModel] }) data: OpenAiModel[];
}
