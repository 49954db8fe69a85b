import { Module } from '@nestjs/common';
import { UsageController } from './usage.controller';
import { UsageMetrics } from './usage-metrics';
import { UsageWriter } from './usage-writer.service';
import { UsageService } from './usage.service';

/** The usage ledger: its batched writer, its reads and its Prometheus counters. */
@Module({
  controllers: [UsageController],
  providers: [UsageWriter, UsageMetrics, UsageService],
  exports: [UsageWriter],
})
export class UsageModule {}
