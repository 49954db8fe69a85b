import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsOptional,
  IsString,
} from 'class-validator';
import { PageOf, PageQueryByActivity } from '../../common/pagination.dto';
import { OptionalOneOf } from '../../common/validators';
import { MEMBER_ROLES, MemberRole } from '../entities/membership.entity';

export class PutMemberBody {
  @OptionalOneOf(MEMBER_ROLES, {
    description: 'Default member for a new membership; kept when omitted.',
  })
  role?: MemberRole;

  @ApiPropertyOptional({
    description: 'false suspends the membership without deleting it. Default true.',
  })
  @IsOptional()
  @IsBoolean()
  is_active?: boolean;
}

export const MAX_BULK_MEMBERS = 1000;

export class BulkAddMembersBody {
  @ApiProperty({ type: [String], maxItems: MAX_BULK_MEMBERS, example: ['u-1', 'u-2'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BULK_MEMBERS)
  @IsString({ each: true })
  user_ids: string[];

  @OptionalOneOf(MEMBER_ROLES, { default: 'member' })
  role?: MemberRole;
}

export class BulkAddMembersResponse {
  @ApiProperty({ description: 'New memberships.' }) added: number;
  @ApiProperty({ description: 'Existing memberships changed (reactivated or role changed).' })
  updated: number;
  @ApiProperty() unchanged: number;
}

export class ListMembersQuery extends PageQueryByActivity {
  @OptionalOneOf(MEMBER_ROLES)
  role?: MemberRole;
}

export class MemberResponse {
  @ApiProperty({ example: 'acme' }) organization_id: string;
  @ApiProperty() user_id: string;
  @ApiProperty() user_name: string;
  @ApiProperty() user_email: string;
  @ApiProperty({ enum: MEMBER_ROLES }) role: MemberRole;
  @ApiProperty() is_active: boolean;
  @ApiProperty() joined_at: string;
  @ApiProperty() updated_at: string;
}

export class MemberPage extends PageOf(MemberResponse) {}

export class UserOrganizationResponse {
  @ApiProperty({ example: 'acme' }) organization_id: string;
  @ApiProperty() organization_name: string;
  @ApiProperty({ description: 'false when the organization is archived.' })
  organization_active: boolean;
  @ApiProperty({ enum: MEMBER_ROLES }) role: MemberRole;
  @ApiProperty({ description: 'false when the membership is suspended.' }) is_active: boolean;
  @ApiProperty({ description: "This user's OpenRouter `user` value through this organization." })
  openrouter_user: string;
}

export class UserOrganizationList {
  @ApiProperty({ type: [UserOrganizationResponse] }) data: UserOrganizationResponse[];
}
