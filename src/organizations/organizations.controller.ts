import { Body, Controller, Delete, Get, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { OrgAdmin, SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ApiProblem, ApiProblems, Deleted, OrganizationIdParam } from '../common/api-docs';
import { Page } from '../common/pagination.dto';
import {
  CreateOrganizationBody,
  DeleteOrganizationQuery,
  ListOrganizationsQuery,
  OrganizationPage,
  OrganizationResponse,
  UpdateOrganizationBody,
} from './dto/organization.dto';
import { OrganizationsService } from './organizations.service';

@ApiTags('organizations')
@Controller('api/v1/organizations')
export class OrganizationsController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Post()
  @SiteAdmin()
  @ApiOperation({ summary: 'Create an organization' })
  @ApiCreatedResponse({ type: OrganizationResponse })
  @ApiProblems(400)
  @ApiProblem(409, 'The id or external_user is taken.')
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
  @ApiProblems(400)
  list(
    @CurrentPrincipal() actor: Principal,
    @Query() query: ListOrganizationsQuery,
  ): Promise<Page<OrganizationResponse>> {
    return this.organizations.list(actor, query);
  }

  @Get(':orgId')
  @OrgAdmin()
  @ApiOperation({ summary: 'Get one organization' })
  @ApiOkResponse({ type: OrganizationResponse })
  get(@OrganizationIdParam() id: string): Promise<OrganizationResponse> {
    return this.organizations.get(id);
  }

  @Patch(':orgId')
  @SiteAdmin()
  @ApiOperation({ summary: 'Rename, archive (is_active false) or restore, or change auto-grant' })
  @ApiOkResponse({ type: OrganizationResponse })
  @ApiProblems(400, 404)
  update(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() id: string,
    @Body() body: UpdateOrganizationBody,
  ): Promise<OrganizationResponse> {
    return this.organizations.update(actor, id, body);
  }

  @Delete(':orgId')
  @SiteAdmin()
  @Deleted('Deleted.')
  @ApiOperation({
    summary: 'Delete an organization (409 while it has members or grants, unless cascade=true)',
  })
  @ApiProblems(404, 409)
  remove(
    @CurrentPrincipal() actor: Principal,
    @OrganizationIdParam() id: string,
    @Query() query: DeleteOrganizationQuery,
  ): Promise<void> {
    return this.organizations.remove(actor, id, query.cascade ?? false);
  }
}
