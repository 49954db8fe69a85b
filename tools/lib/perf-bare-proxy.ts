/**
 * The floor of the gateway scenario of `npm run bench`: the least any Node proxy does for a
 * non-streamed chat completion, with no framework, authentication, database or ledger. It
 * reads the JSON body, parses it, sets `user` (as the gateway names the organization to the
 * upstream), sends it on over a keep-alive connection, reads the whole answer and sends it
 * back with its length. What the gateway adds beyond this is what it costs by itself; what
 * this adds over calling the upstream directly is what Node's HTTP stack costs on this
 * machine. Started as a child process:
 * `node perf-bare-proxy.js <port> <upstream url of the call> <upstream key>`.
 */
import { Agent, createServer, IncomingMessage, request, ServerResponse } from 'node:http';

const PORT = Number(process.argv[2]);
const TARGET = new URL(process.argv[3]);
const AUTHORIZATION = `Bearer ${process.argv[4]}`;
/** The `user` the upstream is told, as the gateway's organization external user. */
const USER = 'mai_bench';

// pooled as the gateway's upstream client pools them
const agent = new Agent({
  keepAlive: true,
  maxSockets: 1024,
  maxFreeSockets: 256,
  scheduling: 'lifo',
});

function readAll(stream: IncomingMessage, done: (body: Buffer) => void): void {
  const parts: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => parts.push(chunk));
  stream.on('end', () => done(Buffer.concat(parts)));
}

function forward(body: Buffer, res: ServerResponse): void {
  const call = JSON.parse(body.toString()) as Record<string, unknown>;
  call.user = USER;
  const payload = Buffer.from(JSON.stringify(call));
  const upstream = request(
    {
      hostname: TARGET.hostname,
      port: TARGET.port,
      path: TARGET.pathname,
      method: 'POST',
      agent,
      headers: {
        authorization: AUTHORIZATION,
        'content-type': 'application/json',
        'content-length': payload.length,
      },
    },
    (answer) =>
      readAll(answer, (text) => {
        res.writeHead(answer.statusCode ?? 502, {
          'content-type': answer.headers['content-type'] ?? 'application/json',
          'content-length': text.length,
        });
        res.end(text);
      }),
  );
  upstream.on('error', () => res.writeHead(502).end());
  upstream.end(payload);
}

const server = createServer((req, res) => {
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
