import { performance } from 'node:perf_hooks';
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

/** Milliseconds one batch of `count` failures from new addresses (and a check each) takes. */
function batch(sut: AuthFailureLimiter, from: number, count: number, now: number): number {
  const started = performance.now();
  for (let i = from; i < from + count; i++) {
    sut.blockedFor(address(i), now);
    sut.recordFailure(address(i), now);
  }
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
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

  it('costs the same per failure with 130,000 addresses behind it as with none (no sweep)', () => {
    const sut = new AuthFailureLimiter(config());
    const now = 1_000_000;
    const perBatch = 5_000;
    // warm up the JIT, then time batches of new addresses on an empty and on a full limiter,
    // interleaved with a second fresh limiter so machine load affects both alike
    batch(new AuthFailureLimiter(config()), 10_000_000, perBatch, now);
    const empty: number[] = [];
    const full: number[] = [];
    batch(sut, 0, 130_000, now);
    for (let round = 0; round < 7; round++) {
      empty.push(
        batch(new AuthFailureLimiter(config()), 1_000_000 + round * perBatch, perBatch, now),
      );
      full.push(batch(sut, 200_000 + round * perBatch, perBatch, now));
    }
    // a limiter that swept its map on each failure took hundreds of times longer here
    expect(median(full)).toBeLessThan(median(empty) * 5);
  });
});
