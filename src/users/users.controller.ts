import { Body, Controller, Delete, Get, HttpCode, Param, Put, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { ProblemResponse } from '../common/problem.dto';
import { UserIdPipe } from '../common/validators';
import { upserted } from '../common/upsert';
import { ListUsersQuery, UpsertUserBody, UserPage, UserResponse } from './dto/user.dto';
import { UsersService } from './users.service';

const USER_ID = { name: 'id', description: 'The web UI user id (URL-encoded).' };

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
  @ApiParam(USER_ID)
  @ApiOkResponse({ type: UserResponse, description: 'Replaced.' })
  @ApiCreatedResponse({ type: UserResponse, description: 'Created.' })
  @ApiBadRequestResponse({ type: ProblemResponse })
  async upsert(
    @CurrentPrincipal() actor: Principal,
    @Param('id', UserIdPipe) id: string,
    @Body() body: UpsertUserBody,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UserResponse> {
    const { user, created } = await this.users.upsert(actor, id, body);
    return upserted(reply, created, user);
  }

  @Get()
  @ApiOperation({ summary: 'List users, searched by email or name' })
  @ApiOkResponse({ type: UserPage })
  @ApiBadRequestResponse({ type: ProblemResponse })
  list(@Query() query: ListUsersQuery): Promise<Page<UserResponse>> {
    return this.users.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one user' })
  @ApiParam(USER_ID)
  @ApiOkResponse({ type: UserResponse })
  @ApiNotFoundResponse({ type: ProblemResponse })
  get(@Param('id', UserIdPipe) id: string): Promise<UserResponse> {
    return this.users.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a user and all of their memberships' })
  @ApiParam(USER_ID)
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiNotFoundResponse({ type: ProblemResponse })
  remove(@CurrentPrincipal() actor: Principal, @Param('id', UserIdPipe) id: string): Promise<void> {
    return this.users.remove(actor, id);
  }
}
