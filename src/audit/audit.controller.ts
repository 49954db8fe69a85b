import { Controller, Get, Query, StreamableFile } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Readable } from 'node:stream';
import { SiteAdmin } from '../auth/access-level.decorators';
import { Page } from '../common/pagination.dto';
import { ApiProblems } from '../common/api-docs';
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
    description:
      'With `format=csv`, every matching event as text/csv (columns id, created_at, actor, action, target_type, target_id, before, after; before and after as JSON), streamed.',
  })
  @ApiProduces('application/json', 'text/csv')
  @ApiOkResponse({ type: AuditEventPage })
  @ApiProblems(400)
  list(@Query() query: AuditQuery): Promise<Page<AuditEventResponse>> | StreamableFile {
    return query.format === 'csv'
      ? new StreamableFile(Readable.from(this.audit.csv(query)), {
          type: 'text/csv; charset=utf-8',
          disposition: 'attachment; filename="audit-events.csv"',
        })
      : this.audit.list(query);
  }
}
