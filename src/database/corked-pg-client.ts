import { Client } from 'pg';

/** The socket under a pg client (`connection.stream`, a net.Socket once connected). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

function uncork(stream: Corkable): void {
  stream.uncork();
}

/**
 * A pg client whose statements leave in one socket write per tick. pg writes each message
 * of a parameterized statement (Parse, Bind, Describe, Execute, Sync) with a write of its
 * own: five system calls per statement, and on loopback each also wakes the server's
 * process. In pipeline mode (data-source.ts) a statement is written during query() itself,
 * so corking the socket around it and uncorking on the next tick sends its messages, and
 * those of every other statement issued in the same tick (a write's BEGIN and first read,
 * its last statements and COMMIT), in one writev. Answers and their order are unchanged.
 */
export class CorkedClient extends Client {
  // pg's overloads (config object, text with values, callback forms) all pass through.
  override query(...args: unknown[]): never {
    const stream = (this as unknown as { connection?: { stream?: Partial<Corkable> } }).connection
      ?.stream;
    if (typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') {
      return (super.query as (...a: unknown[]) => never)(...args);
    }
    stream.cork();
    try {
      return (super.query as (...a: unknown[]) => never)(...args);
    } finally {
      process.nextTick(uncork, stream);
    }
  }
}
