import { spawn } from 'node:child_process';
import { waitUntilIdle } from './perf-load';

/** A child process that spins for `busyMs`, then sleeps until killed. */
function spinner(busyMs: number) {
  return spawn(process.execPath, [
    '-e',
    `const end = Date.now() + ${busyMs}; while (Date.now() < end) {} setInterval(() => {}, 1000);`,
  ]);
}

describe(waitUntilIdle.name, () => {
  it('waits while a process uses CPU and answers once it has gone quiet', async () => {
    const child = spinner(1_500);
    try {
      const waited = await waitUntilIdle([child.pid!], 10_000);
      expect(waited).toBeGreaterThanOrEqual(1_000);
      expect(waited).toBeLessThan(10_000);
    } finally {
      child.kill();
    }
  });

  it('gives up at its limit when the process never goes quiet', async () => {
    const child = spinner(60_000);
    try {
      const waited = await waitUntilIdle([child.pid!], 1_000);
      expect(waited).toBeGreaterThanOrEqual(1_000);
      expect(waited).toBeLessThan(3_000);
    } finally {
      child.kill();
    }
  });
});
