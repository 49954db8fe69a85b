import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, GatewayCaller, SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ProblemResponse } from '../common/problem.dto';
import { OpenAiErrorResponse } from '../common/openai-error';
import { ModelIdPipe, UserIdPipe } from '../common/validators';
import { AccessCheckParams, AccessCheckQueryPipe } from './access-check-query.pipe';
import { FastPath } from './fast-path.decorator';
import { AccessService } from './access.service';
import {
  AccessCheckResponse,
  OpenAiModel,
  OpenAiModelList,
  UserModelsResponse,
} from './dto/access.dto';

/** Model lists are sent as JSON bytes serialized once per user (see AccessCacheService.serialized). */
const JSON_TYPE = 'application/json; charset=utf-8';

@ApiTags('access')
@Controller()
export class AccessController {
  constructor(private readonly access: AccessService) {}

  @Get('api/v1/users/:id/models')
  @FastPath()
  @SiteAdmin()
  @ApiOperation({ summary: 'The models a user may use, each with the organizations that grant it' })
  @ApiParam({ name: 'id', description: 'The web UI user id (URL-encoded).' })
  @ApiOkResponse({ type: UserModelsResponse })
  @ApiNotFoundResponse({ type: ProblemResponse })
  @Header('content-type', JSON_TYPE)
  modelsOf(@Param('id', UserIdPipe) userId: string): Buffer | Promise<Buffer> {
    return this.access.modelsOfJson(userId);
  }

  @Get('api/v1/me/models')
  @Authenticated()
  @ApiOperation({ summary: 'The models the caller may use' })
  @ApiOkResponse({ type: UserModelsResponse })
  mine(@CurrentPrincipal() actor: Principal): Promise<UserModelsResponse> {
    return this.access.modelsOf(actor.userId!);
  }

  @Get('api/v1/access/check')
  @FastPath()
  @SiteAdmin()
  @ApiOperation({
    summary:
      'May this user use this model? With the organization, the OpenRouter user value, and the reason',
  })
  @ApiOkResponse({ type: AccessCheckResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
  @ApiQuery({ name: 'user_id', type: String, example: 'u-1' })
  @ApiQuery({ name: 'model_id', type: String, example: 'openai/gpt-4o' })
  check(
    @Query(AccessCheckQueryPipe) query: AccessCheckParams,
  ): AccessCheckResponse | Promise<AccessCheckResponse> {
    return this.access.check(query.user_id, query.model_id);
  }

  @Get('v1/models')
  @FastPath()
  @GatewayCaller()
  @ApiOperation({
    summary: 'OpenAI-compatible model list',
    description:
      'With a session token: the models the bearer user may use. With a gateway key: every model some active organization may use (a chat front end keeps one app-wide list; each call is still decided for its user).',
  })
  @ApiOkResponse({ type: OpenAiModelList })
  @Header('content-type', JSON_TYPE)
  openAi(@CurrentPrincipal() actor: Principal): Buffer | Promise<Buffer> {
    return this.access.openAiModelsJsonFor(actor);
  }

  @Get('v1/models/:id')
  @GatewayCaller()
  @ApiOperation({ summary: 'One model of that same list (OpenAI-compatible)' })
  @ApiParam({ name: 'id', description: 'Model id, URL-encoded (openai%2Fgpt-4o).' })
  @ApiOkResponse({ type: OpenAiModel })
  @ApiNotFoundResponse({ type: OpenAiErrorResponse, description: 'model_not_found.' })
  openAiModel(
    @CurrentPrincipal() actor: Principal,
    @Param('id', ModelIdPipe) modelId: string,
  ): Promise<OpenAiModel> {
    return this.access.openAiModelFor(actor, modelId);
  }
}
