import { Body, Controller, Delete, Get, HttpCode, Post, Put, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ApiProblems, Deleted, GrantTargetParam, OrganizationIdParam } from '../common/api-docs';
import { Page } from '../common/pagination.dto';
import { Upsert, Upserted } from '../common/upsert';
import {
  BulkGrantsBody,
  BulkGrantsResponse,
  GrantPage,
  GrantResponse,
  ListGrantsQuery,
  PutGrantBody,
} from './dto/grant.dto';
import { GrantsService } from './grants.service';

@ApiTags('grants')
@Controller('api/v1/organizations/:orgId/models')
@SiteAdmin()
export class GrantsController {
  constructor(private readonly grants: GrantsService) {}

  @Get()
  @ApiOperation({ summary: "List an organization's grants (ids and patterns)" })
  @ApiOkResponse({ type: GrantPage })
  @ApiProblems(404)
  list(
    @OrganizationIdParam() orgId: string,
    @Query() query: ListGrantsQuery,
  ): Promise<Page<GrantResponse>> {
    return this.grants.list(orgId, query);
  }

  @Post('bulk')
  @HttpCode(200)
  @ApiOperation({ summary: 'Grant and revoke many ids and patterns at once (all or nothing)' })
  @ApiOkResponse({ type: BulkGrantsResponse })
  @ApiProblems(400, 404)
  bulk(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() orgId: string,
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
  @Upsert(GrantResponse, { ok: 'Changed.', created: 'Granted.' })
  @ApiProblems(404)
  put(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() orgId: string,
    @GrantTargetParam('modelId') modelId: string,
    @Body() body: PutGrantBody,
  ): Promise<Upserted<GrantResponse>> {
    return this.grants.put(actor, orgId, modelId, body);
  }

  @Delete(':modelId')
  @Deleted('Revoked.')
  @ApiOperation({ summary: 'Revoke a grant' })
  @ApiProblems(404)
  revoke(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() orgId: string,
    @GrantTargetParam('modelId') modelId: string,
  ): Promise<void> {
    return this.grants.revoke(actor, orgId, modelId);
  }
}
