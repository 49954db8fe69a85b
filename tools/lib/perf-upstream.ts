/**
 * A minimal OpenAI-style upstream for `npm run bench` (gateway scenario), run as its own
 * process: `node perf-upstream.js <port> [delay-ms] [jitter-ms]`. The model id picks the answer:
 * - bench/json: a small chat completion with usage (as OpenRouter answers), sent after
 *   `delay-ms` (default 0) ± up to `jitter-ms` (uniform), the time a model takes to answer,
 * - bench/json-now: the same answer at once (for the gateway's most calls per second),
 * - bench/stream-100k: an SSE answer of 100 chunks of 1 KB, a usage chunk and [DONE],
 * - bench/hold: an SSE answer that sends one chunk a second until the client goes away.
 * A JSON answer starts with `"bench_hold_us"`: how long the stand-in held that call, from
 * its request's arrival to its answer (the delay plus any lateness of its own event loop),
 * so a client can subtract it call by call. `POST /bench/reseed` restarts the delays'
 * sequence: every measured run then draws the same delays (see perf-gateway).
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { prng } from './prng';

const usage = { prompt_tokens: 11, completion_tokens: 100, total_tokens: 111, cost: 0.000211 };
/** The answer after its first key, `"bench_hold_us"`. */
const JSON_ANSWER_REST = JSON.stringify({
  id: 'gen-bench',
  object: 'chat.completion',
  created: 1764600000,
  model: 'bench/json',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage,
}).slice(1);
const chunk = (content: string) =>
  `data: ${JSON.stringify({ id: 'gen-bench', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
const KB_CHUNK = chunk('x'.repeat(1000));
const END = `data: ${JSON.stringify({ id: 'gen-bench', object: 'chat.completion.chunk', choices: [], usage })}\n\ndata: [DONE]\n\n`;

function sse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

async function stream100k(res: ServerResponse): Promise<void> {
  sse(res);
  for (let i = 0; i < 100; i++) {
    if (!res.write(KB_CHUNK)) {
      await new Promise((resolve) => res.once('drain', resolve));
    }
  }
  res.end(END);
}

function hold(res: ServerResponse): void {
  sse(res);
  res.write(chunk('first'));
  const timer = setInterval(() => res.write(chunk('tick')), 1000);
  res.on('close', () => clearInterval(timer));
}

/** How long bench/json takes to answer, in ms (a real model takes from 0.3 s to minutes). */
const DELAY_MS = Number(process.argv[3] ?? 0);
/** How far each answer's delay strays from DELAY_MS, either way, in ms (uniform, seeded). */
const JITTER_MS = Number(process.argv[4] ?? 0);
const SEED = 12_345;
let draw = prng(SEED);

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const arrived = performance.now();
  if (req.url === '/bench/reseed') {
    draw = prng(SEED);
    res.writeHead(204).end();
    return;
  }
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
    return;
  }
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const model = String(
      (JSON.parse(Buffer.concat(parts).toString()) as { model?: unknown }).model,
    );
    if (model === 'bench/stream-100k') {
      void stream100k(res);
    } else if (model === 'bench/hold') {
      hold(res);
    } else {
      const answer = () => {
        const holdUs = Math.round((performance.now() - arrived) * 1000);
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(`{"bench_hold_us":${holdUs},${JSON_ANSWER_REST}`);
      };
      if (model === 'bench/json' && DELAY_MS > 0) {
        setTimeout(answer, DELAY_MS + (draw() * 2 - 1) * JITTER_MS);
      } else {
        answer();
      }
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2]), '127.0.0.1');
