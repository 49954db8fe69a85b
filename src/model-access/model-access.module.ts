import { Module } from '@nestjs/common';
import { OrganizationsModule } from '../organizations/organizations.module';
import { AccessController } from './access.controller';
import { AccessService } from './access.service';
import { GrantsController } from './grants.controller';
import { GrantsService } from './grants.service';

@Module({
  imports: [OrganizationsModule],
  controllers: [AccessController, GrantsController],
  providers: [AccessService, GrantsService],
  exports: [AccessService],
})
export class ModelAccessModule {}
