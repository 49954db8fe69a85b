import { ApiProperty } from '@nestjs/swagger';
import { PageOf } from '../../common/pagination.dto';

export class AuditEventResponse {
  @ApiProperty() id: number;
  @ApiProperty({ example: 'api-key:3f2a9c1d0b7e' }) actor: string;
  @ApiProperty({ example: 'grant.put' }) action: string;
  @ApiProperty({ example: 'grant' }) target_type: string;
  @ApiProperty({ example: 'acme/openai/gpt-4o' }) target_id: string;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true }) before: unknown;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true }) after: unknown;
  @ApiProperty({ example: '2026-11-28T17:13:03.123Z' }) created_at: string;
}

export class AuditEventPage extends PageOf(AuditEventResponse) {}
