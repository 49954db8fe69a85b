import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { findWrk, runWrk } from './perf-wrk';

/**
 * Runs Debian's wrk for real (CI installs it; without it these cases are skipped, and Jest
 * reports them as skipped): one answer held for 800 ms among thousands of immediate ones.
 */
const withWrk = findWrk() === null ? describe.skip : describe;

withWrk('runWrk latency (wrk installed)', () => {
  let server: Server;
  let url: string;
  let answered = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      answered++;
      const answer = () => res.end('{"ok":true}');
      if (answered === 300) {
        setTimeout(answer, 800);
      } else {
        answer();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("reports the stall once, not as the hundreds of samples wrk's correction adds for it", async () => {
    const connections = 20;
    const result = await runWrk({
      url,
      connections,
      durationSeconds: 2,
      next: () => ({ path: '/' }),
    });

    expect(result.requests).toBeGreaterThan(1000);
    expect(result.generator.latency?.figures).toBe('measured');
    // wrk added samples for the held answer (it is far over twice the mean interval)...
    expect(result.generator.latency?.syntheticSamples).toBeGreaterThan(10);
    // ...which the figures do not count: one answer of 800 ms is the max, not the p99. With
    // wrk's samples counted, the p99 lands among them (spread evenly from 800 ms down; 8,338
    // against 66,519 answers in one run put it above 700 ms). The immediate answers' own p99
    // is a few ms on a quiet machine; this server shares the Jest worker with the other
    // specs, and in a loaded CI run it read 107 ms.
    expect(result.latency.max).toBeGreaterThanOrEqual(790);
    expect(result.latency.p99).toBeLessThan(400);
    // Little's law holds for a closed loop: never more requests in flight than connections
    expect((result.rps * result.latency.mean) / 1000).toBeLessThanOrEqual(connections * 1.1);
  });
});
