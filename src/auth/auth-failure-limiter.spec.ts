import { AppConfig } from '../config/app-config';
import { AuthFailureLimiter, TRACKED_ADDRESSES } from './auth-failure-limiter';

function config(limit = 3, windowSeconds = 60): AppConfig {
  return Object.assign(new AppConfig(), {
    authFailureLimit: limit,
    authFailureWindowSeconds: windowSeconds,
  });
}

/** 10.x.y.z for i, unique up to 16.7 million. */
function address(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** `count` failures from new addresses, each after a check. */
function batch(sut: AuthFailureLimiter, from: number, count: number, now: number): void {
  for (let i = from; i < from + count; i++) {
    sut.blockedFor(address(i), now);
    sut.recordFailure(address(i), now);
  }
}

describe(AuthFailureLimiter.name, () => {
  it('blocks an address after the limit, for the rest of its window only', () => {
    const sut = new AuthFailureLimiter(config(3, 60));
    const t0 = 1_000_000;
    for (let i = 0; i < 2; i++) {
      sut.recordFailure('192.0.2.1', t0);
    }
    expect(sut.blockedFor('192.0.2.1', t0)).toBe(0);
    sut.recordFailure('192.0.2.1', t0);
    expect(sut.blockedFor('192.0.2.1', t0 + 1000)).toBe(59);
    expect(sut.blockedFor('192.0.2.2', t0 + 1000)).toBe(0);
    expect(sut.blockedFor('192.0.2.1', t0 + 60_000)).toBe(0);
  });

  it('remembers at most its capacity of addresses after 130,000 unique failing ones', () => {
    const sut = new AuthFailureLimiter(config());
    const now = 1_000_000;
    batch(sut, 0, 130_000, now);
    expect(sut.capacity).toBe(TRACKED_ADDRESSES);
    expect(sut.size).toBeLessThanOrEqual(TRACKED_ADDRESSES);
    expect(sut.size).toBeGreaterThanOrEqual(TRACKED_ADDRESSES / 2);
    // the most recent ones are remembered, the least recent forgotten
    expect(sut.blockedFor(address(129_999), now)).toBe(0);
    for (let i = 0; i < 2; i++) {
      sut.recordFailure(address(129_999), now);
    }
    expect(sut.blockedFor(address(129_999), now)).toBeGreaterThan(0);
    sut.recordFailure(address(0), now);
    sut.recordFailure(address(0), now);
    expect(sut.blockedFor(address(0), now)).toBe(0);
    expect(sut.size).toBeLessThanOrEqual(TRACKED_ADDRESSES);
  });

  it('keeps a blocked address that keeps failing, however many other addresses fail once', () => {
    const sut = new AuthFailureLimiter(config());
    const now = 1_000_000;
    for (let round = 0; round < 10; round++) {
      sut.recordFailure('198.51.100.7', now);
      batch(sut, round * 13_000, 13_000, now);
    }
    expect(sut.blockedFor('198.51.100.7', now)).toBeGreaterThan(0);
  });

  it('never walks its maps on a failure or a check, however many addresses it holds (no sweep)', () => {
    const sut = new AuthFailureLimiter(config());
    const now = 1_000_000;
    batch(sut, 0, 130_000, now);
    // A limiter that swept expired windows on each failure iterated its maps there, and grew
    // slower with every address it held. Count every way a Map can be walked while more
    // failures and checks arrive on the full limiter: the count must stay zero.
    const proto = Map.prototype as Map<string, unknown>;
    const walks = [
      jest.spyOn(proto, 'forEach'),
      jest.spyOn(proto, 'entries'),
      jest.spyOn(proto, 'keys'),
      jest.spyOn(proto, 'values'),
      jest.spyOn(proto, Symbol.iterator),
    ];
    try {
      batch(sut, 200_000, 35_000, now);
      sut.blockedFor(address(5), now + 120_000);
      expect(walks.map((walk) => walk.mock.calls.length)).toEqual(walks.map(() => 0));
    } finally {
      walks.forEach((walk) => walk.mockRestore());
    }
    expect(sut.size).toBeLessThanOrEqual(TRACKED_ADDRESSES);
  });
});
