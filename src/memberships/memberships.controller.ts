import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { Authenticated, OrgAdmin, SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { ProblemResponse } from '../common/problem.dto';
import { OrganizationIdPipe, UserIdPipe } from '../common/validators';
import { ORG_ID_PARAM } from '../organizations/organizations.controller';
import {
  BulkAddMembersBody,
  BulkAddMembersResponse,
  ListMembersQuery,
  MemberPage,
  MemberResponse,
  PutMemberBody,
  UserOrganizationList,
} from './dto/membership.dto';
import { MembershipsService } from './memberships.service';

const USER_ID_PARAM = { name: 'userId', description: 'The web UI user id (URL-encoded).' };

const LAST_ADMIN = {
  type: ProblemResponse,
  description:
    'An organization admin may not demote, suspend or remove the last active admin of the organization.',
};

const ORG_ADMIN_REACH =
  'An organization admin may add only users who already have a membership in the organization (suspended included) or whose email domain is one of its `email_domains`; any other user id answers exactly like an unknown one. An archived organization is read-only to its admins (403).';

@ApiTags('members')
@Controller('api/v1')
export class MembershipsController {
  constructor(private readonly memberships: MembershipsService) {}

  @Get('organizations/:orgId/members')
  @OrgAdmin()
  @ApiOperation({ summary: 'List the members of an organization' })
  @ApiParam(ORG_ID_PARAM)
  @ApiOkResponse({ type: MemberPage })
  @ApiBadRequestResponse({ type: ProblemResponse })
  list(
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Query() query: ListMembersQuery,
  ): Promise<Page<MemberResponse>> {
    return this.memberships.list(orgId, query);
  }

  @Post('organizations/:orgId/members/bulk')
  @OrgAdmin()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Add (or reactivate) many users at once; unknown user ids change nothing',
    description: `${ORG_ADMIN_REACH} A request that changes nothing writes no audit event.`,
  })
  @ApiParam(ORG_ID_PARAM)
  @ApiOkResponse({ type: BulkAddMembersResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiConflictResponse(LAST_ADMIN)
  bulkAdd(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Body() body: BulkAddMembersBody,
  ): Promise<BulkAddMembersResponse> {
    return this.memberships.bulkAdd(actor, orgId, body);
  }

  @Put('organizations/:orgId/members/:userId')
  @OrgAdmin()
  @ApiOperation({
    summary: 'Add a member, or change their role or suspend them (idempotent)',
    description: `Answers 201 when the membership is new, 200 otherwise (an identical PUT changes nothing and writes no audit event). ${ORG_ADMIN_REACH}`,
  })
  @ApiParam(ORG_ID_PARAM)
  @ApiParam(USER_ID_PARAM)
  @ApiOkResponse({ type: MemberResponse, description: 'Changed, or already so.' })
  @ApiCreatedResponse({ type: MemberResponse, description: 'Added.' })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiConflictResponse(LAST_ADMIN)
  async put(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Param('userId', UserIdPipe) userId: string,
    @Body() body: PutMemberBody,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<MemberResponse> {
    const { member, created } = await this.memberships.put(actor, orgId, userId, body);
    void reply.status(created ? 201 : 200);
    return member;
  }

  @Delete('organizations/:orgId/members/:userId')
  @OrgAdmin()
  @HttpCode(204)
  @ApiOperation({
    summary: 'Remove a member',
    description: 'An archived organization is read-only to its admins (403).',
  })
  @ApiParam(ORG_ID_PARAM)
  @ApiParam(USER_ID_PARAM)
  @ApiNoContentResponse({ description: 'Removed.' })
  @ApiConflictResponse(LAST_ADMIN)
  remove(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Param('userId', UserIdPipe) userId: string,
  ): Promise<void> {
    return this.memberships.remove(actor, orgId, userId);
  }

  @Get('users/:id/organizations')
  @SiteAdmin()
  @ApiOperation({ summary: "A user's memberships, active or not" })
  @ApiParam({ name: 'id', description: 'The web UI user id (URL-encoded).' })
  @ApiOkResponse({ type: UserOrganizationList })
  @ApiNotFoundResponse({ type: ProblemResponse })
  async forUser(@Param('id', UserIdPipe) userId: string): Promise<UserOrganizationList> {
    return { data: await this.memberships.forUser(userId) };
  }

  @Get('me/organizations')
  @Authenticated()
  @ApiOperation({ summary: "The caller's own memberships" })
  @ApiOkResponse({ type: UserOrganizationList })
  async mine(@CurrentPrincipal() actor: Principal): Promise<UserOrganizationList> {
    return { data: await this.memberships.forUser(actor.userId!) };
  }
}
