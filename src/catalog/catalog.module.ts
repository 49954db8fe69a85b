import { Module } from '@nestjs/common';
import { GatewayModule } from '../gateway/gateway.module';
import { CatalogSyncService } from './catalog-sync.service';
import { CatalogController } from './catalog.controller';
import { CatalogService } from './catalog.service';

@Module({
  imports: [GatewayModule],
  controllers: [CatalogController],
  providers: [CatalogService, CatalogSyncService],
  exports: [CatalogService],
})
export class CatalogModule {}
