import { Body, Controller, Delete, Get, HttpCode, Post, Put, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ApiProblem, ApiProblems, Deleted, ModelIdParam } from '../common/api-docs';
import { Page } from '../common/pagination.dto';
import { Upsert, Upserted } from '../common/upsert';
import { CatalogSyncService } from './catalog-sync.service';
import { CatalogService } from './catalog.service';
import {
  CatalogSyncResponse,
  ImportModelsBody,
  ImportModelsResponse,
  ListModelsQuery,
  ModelPage,
  ModelResponse,
  UpsertModelBody,
} from './dto/model.dto';

@ApiTags('models')
@Controller('api/v1/models')
@SiteAdmin()
export class CatalogController {
  constructor(
    private readonly catalog: CatalogService,
    private readonly catalogSync: CatalogSyncService,
  ) {}

  @Post('sync')
  @HttpCode(200)
  @ApiOperation({
    summary: "Sync the catalog from the upstream's /models",
    description:
      'Adds new models (granted to auto-grant organizations), updates names, prices (USD per token) and limits, and marks provider models the upstream no longer lists inactive; one transaction, audited with the counts. Also runs every CATALOG_SYNC_INTERVAL_SECONDS when set.',
  })
  @ApiOkResponse({ type: CatalogSyncResponse })
  @ApiProblem(502, 'The upstream list could not be read.')
  @ApiProblem(503, 'OPENROUTER_API_KEY is not set.')
  sync(@CurrentPrincipal() actor: Principal): Promise<CatalogSyncResponse> {
    return this.catalogSync.sync(actor);
  }

  @Post('bulk')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Import models into the catalog (upsert, all or nothing, at most 1000)',
  })
  @ApiOkResponse({ type: ImportModelsResponse })
  @ApiProblems(400)
  import(
    @CurrentPrincipal() actor: Principal,
    @Body() body: ImportModelsBody,
  ): Promise<ImportModelsResponse> {
    return this.catalog.import(actor, body);
  }

  @Put(':id')
  @ApiOperation({
    summary: 'Create or replace a catalog model (idempotent)',
    description:
      'A model new to the catalog is granted to every organization with auto_grant_new_models.',
  })
  @Upsert(ModelResponse)
  upsert(
    @CurrentPrincipal() actor: Principal,
    @ModelIdParam('id') id: string,
    @Body() body: UpsertModelBody,
  ): Promise<Upserted<ModelResponse>> {
    return this.catalog.upsert(actor, id, body);
  }

  @Get()
  @ApiOperation({ summary: 'List catalog models' })
  @ApiOkResponse({ type: ModelPage })
  @ApiProblems(400)
  list(@Query() query: ListModelsQuery): Promise<Page<ModelResponse>> {
    return this.catalog.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one catalog model' })
  @ApiOkResponse({ type: ModelResponse })
  @ApiProblems(404)
  get(@ModelIdParam('id') id: string): Promise<ModelResponse> {
    return this.catalog.get(id);
  }

  @Delete(':id')
  @Deleted('Deleted.')
  @ApiOperation({ summary: 'Delete a catalog model and the grants naming it exactly' })
  @ApiProblems(404)
  remove(@CurrentPrincipal() actor: Principal, @ModelIdParam('id') id: string): Promise<void> {
    return this.catalog.remove(actor, id);
  }
}
