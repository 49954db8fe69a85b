import { Type as Class } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';
import { OptionalBooleanQuery } from './validators';

export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 50;

/** limit/offset paging; limit above the hard maximum is refused, not clamped. */
export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit: number = DEFAULT_PAGE_SIZE;

  @ApiPropertyOptional({ minimum: 0, maximum: 1_000_000_000, default: 0 })
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  offset: number = 0;
}

/** A page of a list that can be narrowed to its active (`true`) or inactive (`false`) rows. */
export class PageQueryByActivity extends PageQuery {
  @ApiPropertyOptional({ type: Boolean })
  @OptionalBooleanQuery()
  is_active?: boolean;
}

export class PageInfo {
  @ApiProperty({ example: 50 })
  limit: number;

  @ApiProperty({ example: 0 })
  offset: number;

  @ApiProperty({ example: 123, description: 'Rows matching the filters, over all pages.' })
  total: number;
}

export interface Page<T> {
  data: T[];
  limit: number;
  offset: number;
  total: number;
}

/** A page of `item`s as documented: `export class UserPage extends PageOf(UserResponse) {}`. */
export function PageOf<T>(item: Class<T>) {
  class PageOfItems extends PageInfo {
    @ApiProperty({ type: [item] }) data: T[];
  }
  return PageOfItems;
}
