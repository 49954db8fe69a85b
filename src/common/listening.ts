import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Server } from 'node:http';
import { AddressInfo, createServer, Server as NetServer, Socket } from 'node:net';

/**
 * Why several listening sockets: Node (libuv 1.45 and later) accepts one new connection per
 * turn of its event loop. A busy server's turn takes milliseconds (it answers every request
 * that is ready), so a burst of N new connections is admitted over N turns, and the last
 * ones wait, seconds at worst, before their first request is even read; the server's own
 * clocks start only then, so no histogram of its own shows that wait. With several sockets
 * bound to one port (SO_REUSEPORT), the kernel spreads new connections over them and each
 * socket accepts one per turn. Node offers the option (`reusePort`) from 22.12 (and 23.1).
 */
const REUSE_PORT_SINCE: Record<number, [number, number]> = { 22: [12, 0], 23: [1, 0] };
/** Systems whose kernel spreads connections over SO_REUSEPORT sockets (Node's own list). */
const REUSE_PORT_PLATFORMS = new Set(['linux', 'freebsd']);

/** Null when this Node on this system can share a port between sockets, else why not. */
export function reusePortUnsupported(
  version: string = process.versions.node,
  platform: string = process.platform,
): string | null {
  if (!REUSE_PORT_PLATFORMS.has(platform)) {
    return `SO_REUSEPORT is not used on ${platform}`;
  }
  const [major, minor, patch] = version.split('.').map(Number);
  const since = REUSE_PORT_SINCE[major];
  const supported =
    major > 23 ||
    (since !== undefined && (minor > since[0] || (minor === since[0] && patch >= since[1])));
  return supported ? null : `Node ${version} cannot share a port between sockets (22.12 can)`;
}

/** How the server listens, once it does. */
export interface Listening {
  /** Sockets accepting connections on the port (1 without SO_REUSEPORT). */
  sockets: number;
  /** Why fewer sockets than asked for listen, or null. */
  note: string | null;
  /** Stops the additional sockets accepting (the first closes with the HTTP server). */
  stopAccepting(): void;
}

function listen(server: NetServer, options: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

/**
 * Fails with the usual EADDRINUSE when something already listens on the port. Needed
 * because two processes that both set SO_REUSEPORT (a second copy of this service started
 * by mistake) would otherwise share the port silently, each getting some of the clients.
 */
async function refuseTakenPort(port: number, host: string): Promise<void> {
  const probe = createServer();
  await listen(probe, { port, host });
  await new Promise((resolve) => probe.close(resolve));
}

/** The connection count and owner Node keeps for every server (net.Server's own fields). */
type Counted = { _connections: number };
type Owned = Socket & { server: NetServer; _server: NetServer };

/**
 * Hands a connection `extra` accepted to the HTTP server as if the HTTP server had accepted
 * it: Node counts a server's connections (closing it waits until they have ended) and the
 * socket remembers its server to uncount itself when it closes. So a graceful shutdown
 * waits for these connections too, before the database closes; without this the HTTP
 * server's close saw only the connections of its own socket and the process exited under
 * requests still in flight on the others.
 */
function adopt(extra: NetServer, server: Server, socket: Socket): void {
  (extra as unknown as Counted)._connections--;
  (server as unknown as Counted)._connections++;
  (socket as Owned).server = server;
  (socket as Owned)._server = server;
  server.emit('connection', socket);
}

/**
 * Starts the application listening on `port` and `host` with `sockets` listening sockets
 * (see above); the additional ones hand every connection they accept to the application's
 * HTTP server, which then serves it like any other. Falls back to one socket where the
 * port cannot be shared, and says why in `note`. `onError` hears an additional socket that
 * could not listen (the others serve on) or failed later (the connections it accepted stay
 * served).
 */
export async function listenWithSockets(
  app: NestFastifyApplication,
  port: number,
  host: string,
  sockets: number,
  onError: (error: Error) => void,
): Promise<Listening> {
  const unsupported = sockets > 1 ? reusePortUnsupported() : null;
  const count = unsupported === null ? sockets : 1;
  if (count > 1 && port !== 0) {
    await refuseTakenPort(port, host);
  }
  // Fastify hands its listen options to Node's server.listen as they are.
  await app.listen({ port, host, ...(count > 1 ? { reusePort: true } : {}) } as {
    port: number;
    host: string;
  });
  const server = app.getHttpServer() as Server;
  const bound = server.address() as AddressInfo;
  const extras: NetServer[] = [];
  let note = unsupported;
  try {
    for (let i = 1; i < count; i++) {
      // Node's HTTP server sets TCP_NODELAY on the sockets it accepts; these do the same.
      const extra = createServer({ noDelay: true }, (socket) => adopt(extra, server, socket));
      await listen(extra, { port: bound.port, host: bound.address, reusePort: true });
      extra.on('error', onError);
      extras.push(extra);
    }
  } catch (error) {
    // The service still serves, on fewer sockets; the operator hears why.
    onError(error as Error);
    note = `only ${extras.length + 1} of ${count} sockets listen: ${(error as Error).message}`;
  }
  return {
    sockets: extras.length + 1,
    note,
    stopAccepting: () => extras.forEach((extra) => extra.close()),
  };
}
