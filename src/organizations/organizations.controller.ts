import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
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
import { OrgAdmin, SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { ProblemResponse } from '../common/problem.dto';
import { OrganizationIdPipe } from '../common/validators';
import {
  CreateOrganizationBody,
  DeleteOrganizationQuery,
  ListOrganizationsQuery,
  OrganizationPage,
  OrganizationResponse,
  UpdateOrganizationBody,
} from './dto/organization.dto';
import { OrganizationsService } from './organizations.service';

export const ORG_ID_PARAM = {
  name: 'orgId',
  description: 'Organization id (slug).',
  example: 'acme',
};

@ApiTags('organizations')
@Controller('api/v1/organizations')
export class OrganizationsController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Post()
  @SiteAdmin()
  @ApiOperation({ summary: 'Create an organization' })
  @ApiCreatedResponse({ type: OrganizationResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiConflictResponse({ type: ProblemResponse, description: 'The id or external_user is taken.' })
  create(
    @CurrentPrincipal() actor: Principal,
    @Body() body: CreateOrganizationBody,
  ): Promise<OrganizationResponse> {
    return this.organizations.create(actor, body);
  }

  @Get()
  @OrgAdmin()
  @ApiOperation({
    summary: 'List organizations (site admins: all; organization admins: their own)',
  })
  @ApiOkResponse({ type: OrganizationPage })
  @ApiBadRequestResponse({ type: ProblemResponse })
  list(
    @CurrentPrincipal() actor: Principal,
    @Query() query: ListOrganizationsQuery,
  ): Promise<Page<OrganizationResponse>> {
    return this.organizations.list(actor, query);
  }

  @Get(':orgId')
  @OrgAdmin()
  @ApiOperation({ summary: 'Get one organization' })
  @ApiParam(ORG_ID_PARAM)
  @ApiOkResponse({ type: OrganizationResponse })
  get(@Param('orgId', OrganizationIdPipe) id: string): Promise<OrganizationResponse> {
    return this.organizations.get(id);
  }

  @Patch(':orgId')
  @SiteAdmin()
  @ApiOperation({ summary: 'Rename, archive (is_active false) or restore, or change auto-grant' })
  @ApiParam(ORG_ID_PARAM)
  @ApiOkResponse({ type: OrganizationResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiNotFoundResponse({ type: ProblemResponse })
  update(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) id: string,
    @Body() body: UpdateOrganizationBody,
  ): Promise<OrganizationResponse> {
    return this.organizations.update(actor, id, body);
  }

  @Delete(':orgId')
  @SiteAdmin()
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete an organization (409 while it has members or grants, unless cascade=true)',
  })
  @ApiParam(ORG_ID_PARAM)
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiNotFoundResponse({ type: ProblemResponse })
  @ApiConflictResponse({ type: ProblemResponse })
  remove(
    @CurrentPrincipal() actor: Principal,
    @Param('orgId', OrganizationIdPipe) id: string,
    @Query() query: DeleteOrganizationQuery,
  ): Promise<void> {
    return this.organizations.remove(actor, id, query.cascade ?? false);
  }
}
