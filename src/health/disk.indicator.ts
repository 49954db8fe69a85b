import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { statfs } from 'node:fs/promises';

/**
 * Free space of the file system holding a path. Terminus's DiskHealthIndicator runs
 * check-disk-space, which spawns `df` on every probe (a fork/exec from the main
 * thread, and `df` must exist in the image); fs.promises.statfs asks the kernel
 * directly from libuv's thread pool, so the event loop never waits for it.
 */
@Injectable()
export class DiskIndicator {
  constructor(private readonly indicator: HealthIndicatorService) {}

  async check(path: string, thresholdFraction: number): Promise<HealthIndicatorResult<'disk'>> {
    const check = this.indicator.check('disk');
    try {
      const stats = await statfs(path);
      const total = stats.blocks * stats.bsize;
      const free = stats.bavail * stats.bsize;
      const usedFraction = total === 0 ? 0 : Math.round((1 - free / total) * 10000) / 10000;
      const data = {
        path,
        total_bytes: total,
        free_bytes: free,
        used_fraction: usedFraction,
        threshold: thresholdFraction,
      };
      return usedFraction <= thresholdFraction ? check.up(data) : check.down(data);
    } catch (error) {
      return check.down({ path, message: (error as Error).message });
    }
  }
}
