import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { fetchBareLoopDelayMs, loopDelayReader, parseServed, servedSentence } from './perf-served';

/** A /metrics text as the service writes it, with `n` scaling every counter. */
function exposition(n: number, loopMaxSeconds: number): string {
  return [
    '# HELP http_request_duration_seconds Duration of HTTP requests',
    `http_request_duration_seconds_bucket{le="0.1",method="GET",route="/a",status_class="2xx"} ${95 * n}`,
    `http_request_duration_seconds_bucket{le="1",method="GET",route="/a",status_class="2xx"} ${99 * n}`,
    `http_request_duration_seconds_bucket{le="5",method="GET",route="/a",status_class="2xx"} ${100 * n}`,
    `http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/a",status_class="2xx"} ${100 * n}`,
    `http_request_duration_seconds_bucket{le="0.1",method="PUT",route="/b",status_class="2xx"} ${8 * n}`,
    `http_request_duration_seconds_bucket{le="1",method="PUT",route="/b",status_class="2xx"} ${9 * n}`,
    `http_request_duration_seconds_bucket{le="5",method="PUT",route="/b",status_class="2xx"} ${9 * n}`,
    `http_request_duration_seconds_bucket{le="+Inf",method="PUT",route="/b",status_class="2xx"} ${10 * n}`,
    `nodejs_gc_duration_seconds_sum{kind="minor"} ${0.25 * n}`,
    `nodejs_gc_duration_seconds_count{kind="minor"} ${50 * n}`,
    `nodejs_gc_duration_seconds_sum{kind="major"} ${0.03 * n}`,
    `nodejs_gc_duration_seconds_count{kind="major"} ${n}`,
    `nodejs_eventloop_lag_max_seconds ${loopMaxSeconds}`,
    `nodejs_eventloop_lag_max_seconds_other 9`,
  ].join('\n');
}

describe(parseServed.name, () => {
  it('reads the request histogram, the collections by kind and the longest loop delay', () => {
    expect(parseServed(exposition(1, 0.042))).toEqual({
      all: 110,
      allOver100ms: 7,
      writes: 10,
      writesOver100ms: 2,
      over1s: 2,
      over5s: 1,
      gc: { minor: { count: 50, seconds: 0.25 }, major: { count: 1, seconds: 0.03 } },
      loopMaxSeconds: 0.042,
    });
  });

  it('reads nothing from a text without those metrics', () => {
    expect(parseServed('up 1\n')).toMatchObject({ all: 0, gc: {}, loopMaxSeconds: null });
  });
});

describe(servedSentence.name, () => {
  it('sums the replicas between the two readings and keeps the longest loop delay', () => {
    const before = [parseServed(exposition(1, 0.5)), parseServed(exposition(2, 0.5))];
    const after = [parseServed(exposition(3, 0.012)), parseServed(exposition(4, 0.031))];
    const sut = servedSentence(before, after)!;
    // 2 + 2 scales of 110 requests, 7 over 100 ms each; writes 10 and 2 each
    expect(sut).toContain('28 of 440 requests took over 100 ms (6.36%');
    expect(sut).toContain('writes 8 of 40 (20.00%)');
    expect(sut).toContain('minor 200 (1000 ms, mean 5.0 ms)');
    expect(sut).toContain('major 4 (120 ms, mean 30.0 ms)');
    expect(sut).toContain('longest event loop delay 31.0 ms');
  });

  it('leaves the requests out when asked to', () => {
    const sut = servedSentence(
      [parseServed(exposition(1, 0))],
      [parseServed(exposition(2, 0.02))],
      {
        requests: false,
      },
    )!;
    expect(sut).not.toContain('requests');
    expect(sut).toMatch(
      /^garbage collection by kind: minor 50 .*longest event loop delay 20.0 ms$/,
    );
  });

  it('says nothing when a reading is missing', () => {
    expect(servedSentence([null], [parseServed(exposition(1, 0))])).toBeNull();
  });
});

describe(fetchBareLoopDelayMs.name, () => {
  let server: Server;
  let url: string;
  let answer: { status: number; body: string };

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.writeHead(req.url === '/loop-delay' ? answer.status : 404).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it("reads the bare server's longest loop delay", async () => {
    answer = { status: 200, body: '{"max_ms":12.5}' };
    await expect(fetchBareLoopDelayMs(url)).resolves.toBe(12.5);
  });

  it('answers null for a server without it or an answer of another shape', async () => {
    answer = { status: 404, body: '' };
    await expect(fetchBareLoopDelayMs(url)).resolves.toBeNull();
    answer = { status: 200, body: '{"max":1}' };
    await expect(fetchBareLoopDelayMs(url)).resolves.toBeNull();
  });
});

describe(loopDelayReader.name, () => {
  it("answers the event loop's longest delay since it started, in ms", async () => {
    const read = loopDelayReader();
    await new Promise((resolve) => setTimeout(resolve, 30));
    const end = Date.now() + 80;
    while (Date.now() < end) {
      // hold the event loop
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(read().max_ms).toBeGreaterThanOrEqual(70);
  });
});
