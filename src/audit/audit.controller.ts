import { Controller, Get, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SiteAdmin } from '../auth/access-level.decorators';
import { Page } from '../common/pagination.dto';
import { ProblemResponse } from '../common/problem.dto';
import { AuditService } from './audit.service';
import { AuditEventPage, AuditEventResponse } from './dto/audit-event.response';
import { AuditQuery } from './dto/audit-query.dto';

@ApiTags('audit')
@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @SiteAdmin()
  @ApiOperation({
    summary: 'List audit events, newest first, filtered by actor, target, action and time',
  })
  @ApiOkResponse({ type: AuditEventPage })
  @ApiBadRequestResponse({ type: ProblemResponse })
  list(@Query() query: AuditQuery): Promise<Page<AuditEventResponse>> {
    return this.audit.list(query);
  }
}
