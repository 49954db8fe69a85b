import { Body, Controller, Delete, Get, Put, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ApiProblems, Deleted, UserIdParam } from '../common/api-docs';
import { Page } from '../common/pagination.dto';
import { Upsert, Upserted } from '../common/upsert';
import { ListUsersQuery, UpsertUserBody, UserPage, UserResponse } from './dto/user.dto';
import { UsersService } from './users.service';

@ApiTags('users')
@Controller('api/v1/users')
@SiteAdmin()
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Put(':id')
  @ApiOperation({
    summary: 'Create or replace a user (idempotent)',
    description:
      'A new user joins the default organization when AUTO_JOIN_DEFAULT_ORGANIZATION is on. Answers 201 when created, 200 when replaced.',
  })
  @Upsert(UserResponse)
  upsert(
    @CurrentPrincipal() actor: Principal,
    @UserIdParam('id') id: string,
    @Body() body: UpsertUserBody,
  ): Promise<Upserted<UserResponse>> {
    return this.users.upsert(actor, id, body);
  }

  @Get()
  @ApiOperation({ summary: 'List users, searched by email or name' })
  @ApiOkResponse({ type: UserPage })
  @ApiProblems(400)
  list(@Query() query: ListUsersQuery): Promise<Page<UserResponse>> {
    return this.users.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one user' })
  @ApiOkResponse({ type: UserResponse })
  @ApiProblems(404)
  get(@UserIdParam('id') id: string): Promise<UserResponse> {
    return this.users.get(id);
  }

  @Delete(':id')
  @Deleted('Deleted.')
  @ApiOperation({ summary: 'Delete a user and all of their memberships' })
  @ApiProblems(404)
  remove(@CurrentPrincipal() actor: Principal, @UserIdParam('id') id: string): Promise<void> {
    return this.users.remove(actor, id);
  }
}
