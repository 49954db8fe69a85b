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
import { GrantTargetPipe, OrganizationIdPipe } from '../common/validators';
import { upserted } from '../common/upsert';
import { ORG_ID_PARAM } from '../organizations/organizations.controller';
import {
  BulkGrantsBody,
  BulkGrantsResponse,
  GrantPage,
  GrantResponse,
  ListGrantsQuery,
  PutGrantBody,
} from './dto/grant.dto';
import { GrantsService } from './grants.service';

const GRANT_PARAM = {
  name: 'modelId',
  description: 'A catalog model id or a prefix pattern ending in *, URL-encoded (openai%2F*).',
  example: 'openai%2Fgpt-4o',
};

@ApiTags('grants')
@Controller('api/v1/organizations/:orgId/models')
@SiteAdmin()
export class GrantsController {
  constructor(private readonly grants: GrantsService) {}

  @Get()
  @ApiOperation({ summary: "List an organization's grants (ids and patterns)" })
  @ApiParam(ORG_ID_PARAM)
  @ApiOkResponse({ type: GrantPage })
  @ApiNotFoundResponse({ type: ProblemResponse })
  list(
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Query() query: ListGrantsQuery,
  ): Promise<Page<GrantResponse>> {
    return this.grants.list(orgId, query);
  }

  @Post('bulk')
  @HttpCode(200)
  @ApiOperation({ summary: 'Grant and revoke many ids and patterns at once (all or nothing)' })
  @ApiParam(ORG_ID_PARAM)
  @ApiOkResponse({ type: BulkGrantsResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiNotFoundResponse({ type: ProblemResponse })
  bulk(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Body() body: BulkGrantsBody,
  ): Promise<BulkGrantsResponse> {
    return this.grants.bulk(actor, orgId, body);
  }

  @Put(':modelId')
  @ApiOperation({
    summary: 'Grant a model or pattern, or suspend / reactivate a grant (idempotent)',
    description:
      'An exact id must be in the catalog; a pattern (openai/*) covers models added later. 201 when new.',
  })
  @ApiParam(ORG_ID_PARAM)
  @ApiParam(GRANT_PARAM)
  @ApiOkResponse({ type: GrantResponse, description: 'Changed.' })
  @ApiCreatedResponse({ type: GrantResponse, description: 'Granted.' })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiNotFoundResponse({ type: ProblemResponse })
  async put(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Param('modelId', GrantTargetPipe) modelId: string,
    @Body() body: PutGrantBody,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<GrantResponse> {
    const { grant, created } = await this.grants.put(actor, orgId, modelId, body);
    return upserted(reply, created, grant);
  }

  @Delete(':modelId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke a grant' })
  @ApiParam(ORG_ID_PARAM)
  @ApiParam(GRANT_PARAM)
  @ApiNoContentResponse({ description: 'Revoked.' })
  @ApiNotFoundResponse({ type: ProblemResponse })
  revoke(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) orgId: string,
    @Param('modelId', GrantTargetPipe) modelId: string,
  ): Promise<void> {
    return this.grants.revoke(actor, orgId, modelId);
  }
}
