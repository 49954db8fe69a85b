import { IncomingMessage, Server, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { putInFront, RequestListener } from './front-door';

const ARRIVED = Symbol('arrived');
/** A request with the pacer's mark of its arrival, when it was held back. */
type Marked = IncomingMessage & { [ARRIVED]?: number };

/**
 * When a request the pacer held back arrived (performance.now clock), or undefined for one
 * it handed on at once. Whoever times requests starts its clock here, so that the time a
 * request waited in the pacer counts as the server's.
 */
export function arrivalOf(req: IncomingMessage): number | undefined {
  return (req as Marked)[ARRIVED];
}

/** When a request arrived: its mark if the pacer held it back, else now (it was not). */
export function arrivedAt(req: IncomingMessage): number {
  return arrivalOf(req) ?? performance.now();
}

/**
 * Hands at most `perTurn` requests per turn of the event loop to the server's request
 * listener (Fastify's, or the front doors in front of it); the others wait, in order of
 * arrival, for the next turns.
 *
 * Why: on PostgreSQL a write waits for the database's answers, and each answer is read in a
 * turn of the event loop. At high concurrency a turn handles every request that is ready
 * (hundreds, tens of milliseconds), so each answer waits that long and a write takes
 * several such turns. With turns of at most `perTurn` requests the answers are read every
 * few milliseconds; the other requests wait in this queue instead of in their sockets, for
 * about as long. SQLite answers inside the call, so there the pacer would only cost.
 *
 * A request held back is marked with its arrival (arrivalOf) for the request timers.
 */
export function paceRequests(server: Server, perTurn: number): void {
  const waiting: [IncomingMessage, ServerResponse, RequestListener][] = [];
  /** Requests handed on since the last turn began. */
  let handed = 0;
  let turnScheduled = false;
  const schedule = () => {
    turnScheduled = true;
    setImmediate(nextTurn);
  };
  const nextTurn = () => {
    turnScheduled = false;
    handed = 0;
    while (waiting.length > 0 && handed < perTurn) {
      const [req, res, next] = waiting.shift()!;
      handed++;
      next(req, res);
    }
    // Keep counting while requests come: an idle server schedules nothing.
    if (waiting.length > 0 || handed > 0) {
      schedule();
    }
  };
  putInFront(server, (req, res, next) => {
    if (!turnScheduled) {
      schedule();
    }
    // Requests wait only once a turn has handed on perTurn, so none waits when this holds.
    if (handed < perTurn) {
      handed++;
      next(req, res);
      return;
    }
    (req as Marked)[ARRIVED] = performance.now();
    waiting.push([req, res, next]);
  });
}
