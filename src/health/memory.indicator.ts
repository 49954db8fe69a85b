import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';

/**
 * Heap in use and resident memory against their limits, with the figures in the answer
 * (Terminus's MemoryHealthIndicator reads the same process.memoryUsage() but reports
 * only up or down).
 */
@Injectable()
export class MemoryIndicator {
  constructor(private readonly indicator: HealthIndicatorService) {}

  heap(limitBytes: number): HealthIndicatorResult<'memory_heap'> {
    const used = process.memoryUsage().heapUsed;
    const data = { used_bytes: used, limit_bytes: limitBytes };
    const check = this.indicator.check('memory_heap');
    return used <= limitBytes ? check.up(data) : check.down(data);
  }

  rss(limitBytes: number): HealthIndicatorResult<'memory_rss'> {
    const used = process.memoryUsage.rss();
    const data = { used_bytes: used, limit_bytes: limitBytes };
    const check = this.indicator.check('memory_rss');
    return used <= limitBytes ? check.up(data) : check.down(data);
  }
}
