import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { NoControlCharacters } from '../../common/validators';
import { PageInfo, PageQuery } from '../../common/pagination.dto';
import { USER_ROLES, UserRole } from '../entities/user.entity';

export class UpsertUserBody {
  @ApiProperty({ example: 'Zażółć Gęślą', maxLength: 255 })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @NoControlCharacters()
  name: string;

  @ApiProperty({ example: 'ada@example.com', maxLength: 320 })
  @IsString()
  @MaxLength(320)
  @NoControlCharacters()
  @Matches(/^[^\s@]+@[^\s@]+$/, { message: 'email must look like name@domain' })
  email: string;

  @ApiProperty({ enum: USER_ROLES, example: 'user' })
  @IsIn(USER_ROLES)
  role: UserRole;
}

export class ListUsersQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Case-insensitive substring of email or name.' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  @NoControlCharacters()
  search?: string;

  @ApiPropertyOptional({ enum: USER_ROLES })
  @IsOptional()
  @IsIn(USER_ROLES)
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

export class UserPage extends PageInfo {
  @ApiProperty({ type: [UserResponse] }) data: UserResponse[];
}
