import { Controller, Get, Param, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, SiteAdmin } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ProblemResponse } from '../common/problem.dto';
import { UserIdPipe } from '../common/validators';
import { AccessService } from './access.service';
import {
  AccessCheckQuery,
  AccessCheckResponse,
  OpenAiModelList,
  UserModelsResponse,
} from './dto/access.dto';

@ApiTags('access')
@Controller()
export class AccessController {
  constructor(private readonly access: AccessService) {}

  @Get('api/v1/users/:id/models')
  @SiteAdmin()
  @ApiOperation({ summary: 'The models a user may use, each with the organizations that grant it' })
  @ApiParam({ name: 'id', description: 'The web UI user id (URL-encoded).' })
  @ApiOkResponse({ type: UserModelsResponse })
  @ApiNotFoundResponse({ type: ProblemResponse })
  modelsOf(@Param('id', UserIdPipe) userId: string): Promise<UserModelsResponse> {
    return this.access.modelsOf(userId);
  }

  @Get('api/v1/me/models')
  @Authenticated()
  @ApiOperation({ summary: 'The models the caller may use' })
  @ApiOkResponse({ type: UserModelsResponse })
  mine(@CurrentPrincipal() actor: Principal): Promise<UserModelsResponse> {
    return this.access.modelsOf(actor.userId!);
  }

  @Get('api/v1/access/check')
  @SiteAdmin()
  @ApiOperation({
    summary:
      'May this user use this model? With the organization, the OpenRouter user value, and the reason',
  })
  @ApiOkResponse({ type: AccessCheckResponse })
  @ApiBadRequestResponse({ type: ProblemResponse })
  check(@Query() query: AccessCheckQuery): Promise<AccessCheckResponse> {
    return this.access.check(query.user_id, query.model_id);
  }

  @Get('v1/models')
  @Authenticated()
  @ApiOperation({ summary: 'OpenAI-compatible model list for the bearer user' })
  @ApiOkResponse({ type: OpenAiModelList })
  openAi(@CurrentPrincipal() actor: Principal): Promise<OpenAiModelList> {
    return this.access.openAiModels(actor.userId!);
  }
}
