import { ApiProperty } from '@nestjs/swagger';

export const MODEL_ACCESS_STATUSES = [
  'pending',
  'no_organization',
  'inactive',
  'no_models',
  'healthy',
] as const;
export type ModelAccessStatus = (typeof MODEL_ACCESS_STATUSES)[number];

export class MembershipDiagnosis {
  @ApiProperty({ example: 'acme' }) organization_id: string;
  @ApiProperty({ example: 'Acme' }) organization_name: string;
  @ApiProperty({ enum: ['member', 'admin'] }) role: 'member' | 'admin';
  @ApiProperty({ description: 'The membership is active (not suspended).' }) is_active: boolean;
  @ApiProperty({ description: 'The organization is active (not archived).' })
  organization_active: boolean;
  @ApiProperty({ description: 'Both active: this membership can grant models.' }) usable: boolean;
}

export class ModelDiagnosis {
  @ApiProperty({ example: 'openai/gpt-4o' }) id: string;
  @ApiProperty({ type: [String], description: 'Organizations granting it, by id.' })
  organizations: string[];
}

export class ModelAccessHealthResponse {
  @ApiProperty() user_id: string;
  @ApiProperty({
    enum: MODEL_ACCESS_STATUSES,
    description:
      'pending: the user awaits approval in the web UI and may use nothing, whatever their memberships; no_organization: no membership at all; inactive: memberships exist but each is suspended or in an archived organization; no_models: a usable membership grants no active catalog model; healthy: at least one model.',
  })
  status: ModelAccessStatus;
  @ApiProperty({ description: 'What to do about it, in words.' }) detail: string;
  @ApiProperty({ type: [MembershipDiagnosis] }) memberships: MembershipDiagnosis[];
  @ApiProperty({ type: [ModelDiagnosis] }) models: ModelDiagnosis[];
}
