import { Body, Controller, Get, Patch } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { OrgAdmin, SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ApiProblem, ApiProblems, OrganizationIdParam, UserIdParam } from '../common/api-docs';
import { BudgetsService } from './budgets.service';
import {
  MemberBudgetResponse,
  OrganizationBudgetResponse,
  UpdateMemberBudgetBody,
  UpdateOrganizationBudgetBody,
} from './dto/budget.dto';

@ApiTags('budgets')
@Controller('api/v1/organizations/:orgId')
export class BudgetsController {
  constructor(private readonly budgets: BudgetsService) {}

  @Get('budget')
  @OrgAdmin()
  @ApiOperation({
    summary: "An organization's budget, alert thresholds, rate limits and this period's spend",
  })
  @ApiOkResponse({ type: OrganizationBudgetResponse })
  get(@OrganizationIdParam() orgId: string): Promise<OrganizationBudgetResponse> {
    return this.budgets.organization(orgId);
  }

  @Patch('budget')
  @SiteAdmin()
  @ApiOperation({
    summary: "Change an organization's budget, period, alert thresholds or rate limits (audited)",
    description:
      'Only the fields sent change; null removes a budget or limit. Spend of the current period is kept: a new budget applies to it at once.',
  })
  @ApiOkResponse({ type: OrganizationBudgetResponse })
  @ApiProblems(400)
  @ApiProblem(404, 'No such organization.')
  update(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() orgId: string,
    @Body() body: UpdateOrganizationBudgetBody,
  ): Promise<OrganizationBudgetResponse> {
    return this.budgets.updateOrganization(actor, orgId, body);
  }

  @Get('members/:userId/budget')
  @OrgAdmin()
  @ApiOperation({ summary: "A member's own budget and rate limits and this period's spend" })
  @ApiOkResponse({ type: MemberBudgetResponse })
  getMember(
    @OrganizationIdParam() orgId: string,
    @UserIdParam('userId') userId: string,
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
  @ApiOkResponse({ type: MemberBudgetResponse })
  @ApiProblems(400)
  @ApiProblem(404, 'No such organization or membership.')
  updateMember(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() orgId: string,
    @UserIdParam('userId') userId: string,
    @Body() body: UpdateMemberBudgetBody,
  ): Promise<MemberBudgetResponse> {
    return this.budgets.updateMember(actor, orgId, userId, body);
  }
}
