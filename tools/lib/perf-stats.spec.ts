import { impossibleInFlight } from './perf-stats';

describe(impossibleInFlight.name, () => {
  it('accepts figures a closed loop can produce', () => {
    // 10,000 req/s at 30 ms each: 300 in flight for 300 connections
    expect(impossibleInFlight(10_000, 30, 300)).toBeNull();
    expect(impossibleInFlight(10_000, 32, 300)).toBeNull(); // within 10%
  });

  it('names the in-flight count of figures no closed loop can produce', () => {
    // 4,000 req/s at a mean of 900 ms: 3,600 in flight for 300 connections
    expect(impossibleInFlight(4_000, 900, 300)).toBe(3_600);
  });
});
