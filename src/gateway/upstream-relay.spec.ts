import { createServer, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import { readAnswer, RelayResult, SilenceTimer, UpstreamRelay } from './upstream-relay';

/** A local upstream whose answer each test writes itself. */
let answer: (res: ServerResponse) => void;
let server: Server;
/** The gateway's upstream client is an undici pool: its answers' bodies are what is relayed. */
let pool: Pool;

beforeAll(async () => {
  server = createServer((_req, res) => answer(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  await pool.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function fetchUpstream(): Promise<Readable> {
  return (await pool.request({ path: '/', method: 'GET' })).body;
}

const USAGE = { prompt_tokens: 3, completion_tokens: 5, cost: 0.25 };

/** Relays a non-streamed answer after its prefix to a sink; what the sink got, and how it ended. */
async function relayAll(
  upstream: Readable,
  prefix: Buffer[],
  idleTimeoutMs: number,
): Promise<{ sent: string; result: RelayResult | null }> {
  let result: RelayResult | null = null;
  const relay = new UpstreamRelay(
    upstream,
    false,
    idleTimeoutMs,
    () => undefined,
    (r) => (result = r),
    prefix,
  );
  const received: Buffer[] = [];
  await pipeline(
    relay,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        received.push(chunk);
        done();
      },
    }),
  );
  return { sent: Buffer.concat(received).toString(), result };
}

describe('readAnswer', () => {
  it('reads a small chunked answer whole', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"gen-1",');
      res.end(`"usage":${JSON.stringify(USAGE)}}`);
    };
    const read = await readAnswer(await fetchUpstream(), 5_000, 1024);
    expect(read.whole).toBe(true);
    expect(read.whole && JSON.parse(read.body.toString())).toEqual({ id: 'gen-1', usage: USAGE });
  });

  it('hands a larger answer to the relay, which sends every byte once and still finds the usage', async () => {
    const filler = 'x'.repeat(50_000);
    const text = `{"id":"gen-2","choices":[{"text":"${filler}"}],"usage":${JSON.stringify(USAGE)}}`;
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // several writes, so the limit is passed in the middle of the answer
      for (let i = 0; i < text.length; i += 8_000) {
        res.write(text.slice(i, i + 8_000));
      }
      res.end();
    };
    const upstream = await fetchUpstream();
    const read = await readAnswer(upstream, 5_000, 10_000);
    expect(read.whole).toBe(false);
    const prefix = read.whole ? [] : read.prefix;
    expect(prefix.reduce((n, c) => n + c.length, 0)).toBeGreaterThan(10_000);
    const { sent, result } = await relayAll(upstream, prefix, 5_000);
    expect(sent).toBe(text);
    expect(result).toMatchObject({
      end: 'ok',
      answer: { generationId: 'gen-2', promptTokens: 3, completionTokens: 5, costUsd: 0.25 },
    });
  });

  it('ends the relay when the answer past the limit arrived whole, its end already gone', async () => {
    const text = `{"id":"gen-4","choices":[{"text":"${'z'.repeat(40_000)}"}],"usage":${JSON.stringify(USAGE)}}`;
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(text);
    };
    const upstream = await fetchUpstream();
    // let the whole answer (one chunk) and its end arrive before it is read
    await new Promise((resolve) => setTimeout(resolve, 50));
    const read = await readAnswer(upstream, 5_000, 10_000);
    expect(read.whole).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    const { sent, result } = await relayAll(upstream, read.whole ? [] : read.prefix, 2_000);
    expect(sent).toBe(text);
    expect(result).toMatchObject({ end: 'ok', answer: { generationId: 'gen-4' } });
  });

  it('rejects when the upstream drops the connection mid-answer', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"id":"gen-3",');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    await expect(readAnswer(await fetchUpstream(), 5_000, 1024)).rejects.toThrow(
      /upstream connection/,
    );
  });

  it('rejects when the upstream stays silent mid-answer', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"gen-4",');
    };
    const upstream = await fetchUpstream();
    await expect(readAnswer(upstream, 100, 1024)).rejects.toThrow(
      'no data from the upstream for 100 ms',
    );
    upstream.destroy();
  });
});

describe('SilenceTimer', () => {
  /** Holds the event loop, as a long GC pause or a starved CPU does. */
  function stall(ms: number): void {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy
    }
  }

  it('reports real silence', async () => {
    const started = performance.now();
    const silent = await new Promise<number>((resolve) => {
      new SilenceTimer(30, () => resolve(performance.now() - started));
    });
    expect(silent).toBeGreaterThanOrEqual(29);
  });

  it('is not tripped by a stalled event loop while the bytes wait in the socket', async () => {
    let answered: ServerResponse | null = null;
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      answered = res;
    };
    const upstream = await fetchUpstream();
    let silences = 0;
    let heard = 0;
    const timer = new SilenceTimer(50, () => silences++);
    upstream.on('data', () => {
      heard++;
      timer.heardFrom();
    });
    await new Promise((resolve) => upstream.once('data', resolve));
    // The next bytes reach the socket, then the loop stalls past the timeout before reading them.
    const before = heard;
    answered!.write('data: second\n\n');
    stall(120);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(heard).toBeGreaterThan(before);
    expect(silences).toBe(0);
    timer.stop();
    answered!.end();
    upstream.resume();
  });
});
