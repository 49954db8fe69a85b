import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { Authenticated, OrgAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ProblemResponse } from '../common/problem.dto';
import { OrganizationIdPipe } from '../common/validators';
import { UsageQuery, UsageReport } from './dto/usage.dto';
import { usageCsv, UsageService } from './usage.service';

const DESCRIPTION =
  "Calls forwarded by the gateway, grouped by day, user or model, with totals. Tokens and cost come from the upstream's usage. `format=csv` answers text/csv with the same rows and a total line.";

/** JSON, or CSV when asked for. */
function answer(report: UsageReport, query: UsageQuery, reply: FastifyReply): UsageReport | string {
  if (query.format !== 'csv') {
    return report;
  }
  void reply
    .header('content-type', 'text/csv; charset=utf-8')
    .header('content-disposition', 'attachment; filename="usage.csv"');
  return usageCsv(report);
}

@ApiTags('usage')
@Controller('api/v1')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get('organizations/:orgId/usage')
  @OrgAdmin()
  @ApiOperation({
    summary: "An organization's usage (site admins, its admins)",
    description: DESCRIPTION,
  })
  @ApiParam({ name: 'orgId', example: 'acme' })
  @ApiProduces('application/json', 'text/csv')
  @ApiOkResponse({ type: UsageReport })
  @ApiBadRequestResponse({ type: ProblemResponse })
  async ofOrganization(
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Query() query: UsageQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UsageReport | string> {
    return answer(await this.usage.ofOrganization(orgId, query), query, reply);
  }

  @Get('me/usage')
  @Authenticated()
  @ApiOperation({ summary: "The caller's own usage", description: DESCRIPTION })
  @ApiProduces('application/json', 'text/csv')
  @ApiOkResponse({ type: UsageReport })
  @ApiBadRequestResponse({ type: ProblemResponse })
  async mine(
    @CurrentPrincipal() actor: Principal,
    @Query() query: UsageQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UsageReport | string> {
    return answer(await this.usage.ofUser(actor.userId!, query), query, reply);
  }
}
