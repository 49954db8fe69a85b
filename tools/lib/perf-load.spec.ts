import { spawn } from 'node:child_process';
import { waitUntilIdle } from './perf-load';

/**
 * How long waitUntilIdle waited, at most `limitMs`, for a child process that spins for
 * `busyMs` and then sleeps until killed.
 */
async function waitedFor(busyMs: number, limitMs: number): Promise<number> {
  const child = spawn(process.execPath, [
    '-e',
    `const end = Date.now() + ${busyMs}; while (Date.now() < end) {} setInterval(() => {}, 1000);`,
  ]);
  try {
    return await waitUntilIdle([child.pid!], limitMs);
  } finally {
    child.kill();
  }
}

describe(waitUntilIdle.name, () => {
  it('waits while a process uses CPU and answers once it has gone quiet', async () => {
    const waited = await waitedFor(1_500, 10_000);
    expect(waited).toBeGreaterThanOrEqual(1_000);
    expect(waited).toBeLessThan(10_000);
  });

  it('gives up at its limit when the process never goes quiet', async () => {
    const waited = await waitedFor(60_000, 1_000);
    expect(waited).toBeGreaterThanOrEqual(1_000);
    expect(waited).toBeLessThan(3_000);
  });
});
