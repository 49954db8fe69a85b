/**
 * The floor of the gateway scenario of `npm run bench`: the least any Node proxy does for a
 * non-streamed chat completion, with no framework, authentication, database or ledger. It
 * reads the JSON body, parses it, sets `user` (as the gateway names the organization to the
 * upstream), sends it on over a keep-alive connection of the gateway's own client (an undici
 * pool), reads the whole answer and sends it back with its length. What the gateway adds
 * beyond this is what it costs by itself; what this adds over calling the upstream directly
 * is what Node's HTTP server and that client cost on this machine. Started as a child
 * process:
 * `node perf-bare-proxy.js <port> <upstream url of the call> <upstream key>`.
 * `GET /loop-delay` answers its event loop's longest delay since the previous such call (as
 * the bare server of the other scenarios does).
 */
import { createServer, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { LOOP_DELAY_PATH, loopDelayReader } from './perf-served';

const PORT = Number(process.argv[2]);
const TARGET = new URL(process.argv[3]);
const AUTHORIZATION = `Bearer ${process.argv[4]}`;
/** The `user` the upstream is told, as the gateway's organization external user. */
const USER = 'mai_bench';

// pooled as the gateway's upstream client (src/gateway/openrouter.client.ts) pools them
const pool = new Pool(TARGET.origin, { connections: 1024, headersTimeout: 0, bodyTimeout: 0 });
const HEADERS = ['authorization', AUTHORIZATION, 'content-type', 'application/json'];

function readAll(stream: Readable, done: (body: Buffer) => void): void {
  const parts: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => parts.push(chunk));
  stream.on('end', () => done(Buffer.concat(parts)));
}

function forward(body: Buffer, res: ServerResponse): void {
  const call = JSON.parse(body.toString()) as Record<string, unknown>;
  call.user = USER;
  const payload = Buffer.from(JSON.stringify(call));
  pool.request({ path: TARGET.pathname, method: 'POST', headers: HEADERS, body: payload }).then(
    (answer) =>
      readAll(answer.body, (text) => {
        const type = answer.headers['content-type'];
        res.writeHead(answer.statusCode, {
          'content-type': typeof type === 'string' ? type : 'application/json',
          'content-length': text.length,
        });
        res.end(text);
      }),
    () => res.writeHead(502).end(),
  );
}

const loopDelay = loopDelayReader();

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === LOOP_DELAY_PATH) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(loopDelay()));
    return;
  }
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  readAll(req, (body) => forward(body, res));
});
server.keepAliveTimeout = 60_000;
server.listen(PORT, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
