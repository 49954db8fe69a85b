import { now } from './time';

describe('now', () => {
  afterEach(() => jest.restoreAllMocks());

  /** now() at the instant `ms`, on the Date.now clock. */
  const at = (ms: number): string => {
    jest.spyOn(Date, 'now').mockReturnValue(ms);
    return now();
  };

  it('gives the text toISOString gives, for every millisecond of a second and across seconds', () => {
    const start = Date.UTC(2026, 11, 31, 23, 59, 58);
    for (let ms = start; ms < start + 3000; ms++) {
      expect(at(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('follows the clock when it moves back, jumps ahead or lands on a second boundary', () => {
    for (const ms of [
      Date.UTC(2027, 0, 1, 0, 0, 0, 5),
      Date.UTC(2026, 11, 31, 23, 59, 59, 999),
      Date.UTC(2026, 1, 28, 12, 0, 0, 0),
      Date.UTC(2024, 1, 29, 0, 0, 0, 42),
      Date.UTC(2024, 1, 29, 0, 0, 0, 41),
      Date.UTC(2030, 5, 15, 8, 30, 1, 100),
    ]) {
      expect(at(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('reads the real clock', () => {
    const before = Date.now();
    const stamp = Date.parse(now());
    expect(stamp).toBeGreaterThanOrEqual(before);
    expect(stamp).toBeLessThanOrEqual(Date.now());
  });
});
