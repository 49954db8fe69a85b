import { Body, Controller, Get, Param, Patch } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { OrgAdmin, SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ProblemResponse } from '../common/problem.dto';
import { OrganizationIdPipe, UserIdPipe } from '../common/validators';
import { ORG_ID_PARAM } from '../organizations/organizations.controller';
import { BudgetsService } from './budgets.service';
import {
  MemberBudgetResponse,
  OrganizationBudgetResponse,
  UpdateMemberBudgetBody,
  UpdateOrganizationBudgetBody,
} from './dto/budget.dto';

const USER_ID_PARAM = { name: 'userId', description: 'The web UI user id (URL-encoded).' };

@ApiTags('budgets')
@Controller('api/v1/organizations/:orgId')
export class BudgetsController {
  constructor(private readonly budgets: BudgetsService) {}

  @Get('budget')
  @OrgAdmin()
  @ApiOperation({
    summary: "An organization's budget, alert thresholds, rate limits and this period's spend",
  })
  @ApiParam(ORG_ID_PARAM)
  @ApiOkResponse({ type: OrganizationBudgetResponse })
  get(@Param('orgId', OrganizationIdPipe) orgId: string): Promise<OrganizationBudgetResponse> {
    return this.budgets.organization(orgId);
  }

  @Patch('budget')
  @SiteAdmin()
  @ApiOperation({
    summary: "Change an organization's budget, period, alert thresholds or rate limits (audited)",
    description:
      'Only the fields sent change; null removes a budget or limit. Spend of the current period is kept: a new budget applies to it at once.',
  })
  @ApiParam(ORG_ID_PARAM)
  @ApiOkResponse({ type: OrganizationBudgetResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiNotFoundResponse({ description: 'No such organization.', type: ProblemResponse })
  update(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Body() body: UpdateOrganizationBudgetBody,
  ): Promise<OrganizationBudgetResponse> {
    return this.budgets.updateOrganization(actor, orgId, body);
  }

  @Get('members/:userId/budget')
  @OrgAdmin()
  @ApiOperation({ summary: "A member's own budget and rate limits and this period's spend" })
  @ApiParam(ORG_ID_PARAM)
  @ApiParam(USER_ID_PARAM)
  @ApiOkResponse({ type: MemberBudgetResponse })
  getMember(
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Param('userId', UserIdPipe) userId: string,
  ): Promise<MemberBudgetResponse> {
    return this.budgets.member(orgId, userId);
  }

  @Patch('members/:userId/budget')
  @SiteAdmin()
  @ApiOperation({
    summary: "Change a member's own budget or rate limits (audited)",
    description:
      "The member's budget uses the organization's period and must be within the organization's budget; both apply.",
  })
  @ApiParam(ORG_ID_PARAM)
  @ApiParam(USER_ID_PARAM)
  @ApiOkResponse({ type: MemberBudgetResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiNotFoundResponse({
    description: 'No such organization or membership.',
    type: ProblemResponse,
  })
  updateMember(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Param('userId', UserIdPipe) userId: string,
    @Body() body: UpdateMemberBudgetBody,
  ): Promise<MemberBudgetResponse> {
    return this.budgets.updateMember(actor, orgId, userId, body);
  }
}
