import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DatabaseDiagnosticsService } from './database-diagnostics.service';
import { DiskIndicator } from './disk.indicator';
import { HealthController } from './health.controller';
import { MemoryIndicator } from './memory.indicator';
import { ModelAccessDiagnosisService } from './model-access-diagnosis.service';

@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [
    DatabaseDiagnosticsService,
    DiskIndicator,
    MemoryIndicator,
    ModelAccessDiagnosisService,
  ],
})
export class HealthModule {}
