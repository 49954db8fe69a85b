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
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { ProblemResponse } from '../common/problem.dto';
import { ModelIdPipe } from '../common/validators';
import { upserted } from '../common/upsert';
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

const MODEL_ID = {
  name: 'id',
  description: 'Catalog model id, URL-encoded (openai%2Fgpt-4o).',
  example: 'openai%2Fgpt-4o',
};

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
  @ApiResponse({
    status: 502,
    description: 'The upstream list could not be read.',
    type: ProblemResponse,
  })
  @ApiResponse({
    status: 503,
    description: 'OPENROUTER_API_KEY is not set.',
    type: ProblemResponse,
  })
  sync(@CurrentPrincipal() actor: Principal): Promise<CatalogSyncResponse> {
    return this.catalogSync.sync(actor);
  }

  @Post('bulk')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Import models into the catalog (upsert, all or nothing, at most 1000)',
  })
  @ApiOkResponse({ type: ImportModelsResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
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
  @ApiParam(MODEL_ID)
  @ApiOkResponse({ type: ModelResponse, description: 'Replaced.' })
  @ApiCreatedResponse({ type: ModelResponse, description: 'Created.' })
  @ApiBadRequestResponse({ type: ProblemResponse })
  async upsert(
    @CurrentPrincipal() actor: Principal,
    @Param('id', ModelIdPipe) id: string,
    @Body() body: UpsertModelBody,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ModelResponse> {
    const { model, created } = await this.catalog.upsert(actor, id, body);
    return upserted(reply, created, model);
  }

  @Get()
  @ApiOperation({ summary: 'List catalog models' })
  @ApiOkResponse({ type: ModelPage })
  @ApiBadRequestResponse({ type: ProblemResponse })
  list(@Query() query: ListModelsQuery): Promise<Page<ModelResponse>> {
    return this.catalog.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one catalog model' })
  @ApiParam(MODEL_ID)
  @ApiOkResponse({ type: ModelResponse })
  @ApiNotFoundResponse({ type: ProblemResponse })
  get(@Param('id', ModelIdPipe) id: string): Promise<ModelResponse> {
    return this.catalog.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a catalog model and the grants naming it exactly' })
  @ApiParam(MODEL_ID)
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiNotFoundResponse({ type: ProblemResponse })
  remove(
    @CurrentPrincipal() actor: Principal,
    @Param('id', ModelIdPipe) id: string,
  ): Promise<void> {
    return this.catalog.remove(actor, id);
  }
}
