import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsString } from 'class-validator';
import {
  OptionalOneOf,
  OptionalText,
  USER_EMAIL_MAX,
  USER_NAME_MAX,
  USER_TEXT_PATTERN,
  UserEmailText,
  UserNameText,
} from '../../common/validators';
import { PageOf, PageQuery } from '../../common/pagination.dto';
import { USER_ROLES, UserRole } from '../entities/user.entity';

export class UpsertUserBody {
  @ApiProperty({
    example: 'Zażółć Gęślą',
    maxLength: USER_NAME_MAX,
    description:
      'Any text Open WebUI accepts: at most 255 characters (Unicode code points; an emoji is one), ' +
      'tabs and line separators allowed, no U+0000. Empty when the user has no name.',
    pattern: USER_TEXT_PATTERN,
  })
  @IsString()
  @UserNameText()
  name: string;

  @ApiProperty({
    example: 'ada@example.com',
    maxLength: USER_EMAIL_MAX,
    description:
      'As Open WebUI keeps it: empty, or text with an @ (spaces allowed), at most 320 ' +
      'characters (code points), no U+0000.',
    pattern: USER_TEXT_PATTERN,
  })
  @IsString()
  @UserEmailText()
  email: string;

  @ApiProperty({ enum: USER_ROLES, example: 'user' })
  @IsIn(USER_ROLES)
  role: UserRole;
}

export class ListUsersQuery extends PageQuery {
  @OptionalText(255, { description: 'Case-insensitive substring of email or name.' })
  search?: string;

  @OptionalOneOf(USER_ROLES)
  role?: UserRole;
}

export class UserResponse {
  @ApiProperty({ example: 'b6c1e2d4-...' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty() email: string;
  @ApiProperty({ enum: USER_ROLES }) role: UserRole;
  @ApiProperty({ example: '2026-11-28T17:13:03.123Z' }) created_at: string;
  @ApiProperty({ example: '2026-11-28T17:13:03.123Z' }) updated_at: string;
}

export class UserPage extends PageOf(UserResponse) {}
