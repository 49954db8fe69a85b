import { EventEmitter } from 'node:events';
import { IncomingMessage, Server, ServerResponse } from 'node:http';
import { arrivalOf, paceRequests } from './turn-pacer';

/** A server as paceRequests sees it: an emitter of 'request' with one listener. */
function pacedServer(perTurn: number): {
  server: EventEmitter;
  handled: IncomingMessage[];
  request(): IncomingMessage;
} {
  const server = new EventEmitter();
  const handled: IncomingMessage[] = [];
  server.on('request', (req: IncomingMessage) => handled.push(req));
  paceRequests(server as unknown as Server, perTurn);
  return {
    server,
    handled,
    request() {
      const req = {} as IncomingMessage;
      server.emit('request', req, {} as ServerResponse);
      return req;
    },
  };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('paceRequests', () => {
  it('hands on at most perTurn requests per turn, the rest in order over the next turns', async () => {
    const { handled, request } = pacedServer(4);
    const sent = Array.from({ length: 10 }, () => request());
    expect(handled).toEqual(sent.slice(0, 4));
    await nextTurn();
    expect(handled).toEqual(sent.slice(0, 8));
    await nextTurn();
    expect(handled).toEqual(sent);
  });

  it('marks the arrival of the requests it held back, and only theirs', async () => {
    const { request } = pacedServer(2);
    const before = performance.now();
    const sent = [request(), request(), request()];
    expect(arrivalOf(sent[0])).toBeUndefined();
    expect(arrivalOf(sent[1])).toBeUndefined();
    expect(arrivalOf(sent[2])).toBeGreaterThanOrEqual(before);
    expect(arrivalOf(sent[2])).toBeLessThanOrEqual(performance.now());
    await nextTurn();
  });

  it('keeps the order when requests arrive while others wait', async () => {
    const { handled, request } = pacedServer(2);
    const first = [request(), request(), request()];
    const later = request(); // arrives after the third, which waits: it must wait too
    expect(handled).toEqual(first.slice(0, 2));
    await nextTurn();
    expect(handled).toEqual([...first, later]);
  });

  it('counts afresh each turn, and schedules nothing once the server is idle', async () => {
    const { handled, request } = pacedServer(2);
    request();
    request();
    await nextTurn();
    const spy = jest.spyOn(global, 'setImmediate');
    try {
      await nextTurn(); // the turn that finds nothing waiting
      const calls = spy.mock.calls.length;
      await nextTurn();
      await nextTurn();
      expect(spy.mock.calls.length).toBe(calls + 2); // only this test's own nextTurn calls
      // a new turn: two more are handed on at once
      request();
      request();
      expect(handled).toHaveLength(4);
    } finally {
      spy.mockRestore();
    }
  });
});
