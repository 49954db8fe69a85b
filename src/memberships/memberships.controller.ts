import { Body, Controller, Delete, Get, HttpCode, Post, Put, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, OrgAdmin, SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import {
  ApiProblem,
  ApiProblems,
  Deleted,
  OrganizationIdParam,
  UserIdParam,
} from '../common/api-docs';
import { Page } from '../common/pagination.dto';
import { Upsert, Upserted } from '../common/upsert';
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

/** 409: what an organization admin may not do to the last active admin. */
const LastAdminConflict = () =>
  ApiProblem(
    409,
    'An organization admin may not demote, suspend or remove the last active admin of the organization.',
  );

const ORG_ADMIN_REACH =
  'An organization admin may add only users who already have a membership in the organization (suspended included) or whose email domain is one of its `email_domains`; any other user id answers exactly like an unknown one. An archived organization is read-only to its admins (403).';

@ApiTags('members')
@Controller('api/v1')
export class MembershipsController {
  constructor(private readonly memberships: MembershipsService) {}

  @Get('organizations/:orgId/members')
  @OrgAdmin()
  @ApiOperation({ summary: 'List the members of an organization' })
  @ApiOkResponse({ type: MemberPage })
  @ApiProblems(400)
  list(
    @OrganizationIdParam() orgId: string,
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
  @ApiOkResponse({ type: BulkAddMembersResponse })
  @ApiProblems(400)
  @LastAdminConflict()
  bulkAdd(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() orgId: string,
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
  @Upsert(MemberResponse, { ok: 'Changed, or already so.', created: 'Added.' })
  @LastAdminConflict()
  put(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() orgId: string,
    @UserIdParam('userId') userId: string,
    @Body() body: PutMemberBody,
  ): Promise<Upserted<MemberResponse>> {
    return this.memberships.put(actor, orgId, userId, body);
  }

  @Delete('organizations/:orgId/members/:userId')
  @OrgAdmin()
  @Deleted('Removed.')
  @ApiOperation({
    summary: 'Remove a member',
    description: 'An archived organization is read-only to its admins (403).',
  })
  @LastAdminConflict()
  remove(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() orgId: string,
    @UserIdParam('userId') userId: string,
  ): Promise<void> {
    return this.memberships.remove(actor, orgId, userId);
  }

  @Get('users/:id/organizations')
  @SiteAdmin()
  @ApiOperation({ summary: "A user's memberships, active or not" })
  @ApiOkResponse({ type: UserOrganizationList })
  @ApiProblems(404)
  async forUser(@UserIdParam('id') userId: string): Promise<UserOrganizationList> {
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
