import { gcTraceSentence, parseGcTrace } from './perf-gc-trace';

// Lines as Node 24 prints them (--trace-gc --trace-gc-ignore-scavenger), from a bench run.
const TRACE = [
  '[8347:0x3d7c4000]      343 ms: Mark-Compact 18.2 (31.4) -> 14.2 (32.4) MB, pooled: 0 MB, 6.70 / 0.00 ms  (+ 0.6 ms in 8 steps since start of marking, biggest step 0.1 ms, walltime since start of marking 27 ms) (average mu = 0.9, current mu = 0.9) finalize incremental marking via stack guard; GC in old space requested',
  '[8347:0x7f8fc40ba000]     8164 ms: Mark-Compact (reduce) 6.4 (10.1) -> 5.3 (6.6) MB, pooled: 0 MB, 4.94 / 0.02 ms  (+ 9.1 ms in 39 steps since start of marking, biggest step 6.6 ms, walltime since start of marking 14 ms) (average mu = 0.9, current mu = 0.9) finalize incremental marking via task; GC in old space requested',
  '[8347:0x3d7c4000]    62819 ms: Mark-Compact (reduce) 86.4 (92.9) -> 65.4 (96.4) MB, pooled: 124 MB, 15.19 / 0.01 ms  (+ 17.0 ms in 45 steps since start of marking, biggest step 13.0 ms, walltime since start of marking 142 ms) (average mu = 0.9, current mu = 0.9) finalize incremental marking via task; GC in old space requested',
  'some other output of the service',
  '[8347:0x3d7c4000]    70571 ms: Mark-Compact 69.7 (123.4) -> 55.4 (109.6) MB, pooled: 108 MB, 26.93 / 0.01 ms  (+ 32.4 ms in 37 steps since start of marking, biggest step 18.5 ms, walltime since start of marking 154 ms) (average mu = 0.9, current mu = 0.9) finalize incremental marking via task; GC in old space requested',
  '[8347:0x3d7c4000]    90000 ms: Mark-Compact 60.0 (100.0) -> 50.0 (100.0) MB, 12.50 / 0.00 ms  (average mu = 0.9, current mu = 0.9) allocation failure; GC in old space requested',
].join('\n');

describe(parseGcTrace.name, () => {
  it("reads the main thread's full collections and skips other isolates and other lines", () => {
    expect(parseGcTrace(TRACE)).toEqual([
      { atMs: 343, pauseMs: 6.7, longestStepMs: 0.1, afterMb: 14.2, reducer: false },
      { atMs: 62819, pauseMs: 15.19, longestStepMs: 13, afterMb: 65.4, reducer: true },
      { atMs: 70571, pauseMs: 26.93, longestStepMs: 18.5, afterMb: 55.4, reducer: false },
      { atMs: 90000, pauseMs: 12.5, longestStepMs: null, afterMb: 50, reducer: false },
    ]);
  });

  it('finds nothing in a text without collections', () => {
    expect(parseGcTrace('')).toEqual([]);
    expect(
      parseGcTrace('[1:0x1]     5 ms: Scavenge 1.0 (2.0) -> 0.5 (2.0) MB, 0.30 / 0.00 ms'),
    ).toEqual([]);
  });
});

describe(gcTraceSentence.name, () => {
  const collections = parseGcTrace(TRACE);

  it('tells the pauses, the longest step, the reducer and the heap of a span', () => {
    expect(gcTraceSentence(collections, 60_000, 95_000, 'the measured rounds')).toBe(
      '3 full collections in the measured rounds: final pauses 15.2, 26.9, 12.5 ms, ' +
        'longest marking step 18.5 ms, 1 started by the memory reducer, live heap after 50.0 to 65.4 MB',
    );
  });

  it('says when a span held none', () => {
    expect(gcTraceSentence(collections, 1_000, 60_000, 'the measured rounds')).toBe(
      'no full collection in the measured rounds',
    );
  });

  it('leaves out the step when no collection of the span marked incrementally', () => {
    expect(gcTraceSentence(collections, 89_000, 91_000, 'the rounds')).toBe(
      '1 full collection in the rounds: final pauses 12.5 ms, live heap after 50.0 to 50.0 MB',
    );
  });
});
