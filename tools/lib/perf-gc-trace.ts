/**
 * The full collections of a service started with `node --trace-gc --trace-gc-ignore-scavenger`
 * (`npm run bench -- --only gateway --gc-trace <file>`): when each ran, how long its final
 * pause held the event loop, and its longest incremental marking step. A step runs on the
 * thread that answers calls, like the pause, so a call in flight waits for either; V8 budgets
 * a step at a few milliseconds, and on a CPU shared with V8's own helper threads a step can
 * last several times that (see BENCHMARKS.md, "One CPU: V8's helper threads and the gateway's
 * tail").
 *
 * One line of V8's trace per collection, e.g.
 *   [812:0x3d7c4000]    70571 ms: Mark-Compact 69.7 (123.4) -> 55.4 (109.6) MB, pooled: 108 MB,
 *   26.93 / 0.01 ms  (+ 32.4 ms in 37 steps since start of marking, biggest step 18.5 ms,
 *   walltime since start of marking 154 ms) (average mu = 0.998, current mu = 0.999) finalize
 *   incremental marking via task; GC in old space requested
 * (one line in the file). The first number is milliseconds since the isolate started; the
 * process's worker threads (the SQLite checkpointer) have isolates of their own, told apart by
 * the address after the pid: only the first isolate's lines, the main thread's, are read.
 */

/** One full collection of the main thread's heap. */
export interface FullCollection {
  /** When it ended, in ms since the isolate started. */
  atMs: number;
  /** The final pause (the first of V8's two figures, the main thread's), in ms. */
  pauseMs: number;
  /** The longest incremental marking step before it, in ms, or null when marking was not incremental. */
  longestStepMs: number | null;
  /** Live heap after it, in MB. */
  afterMb: number;
  /** Started by V8's memory reducer (the line says "(reduce)"). */
  reducer: boolean;
}

const LINE =
  /^\[\d+:(0x[0-9a-f]+)(?::\d+)?\]\s+(\d+) ms: Mark-Compact( \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms(.*)$/;
const STEP = /biggest step ([\d.]+) ms/;

/** The main thread's full collections in a --trace-gc text, in the order they ran. */
export function parseGcTrace(text: string): FullCollection[] {
  let main: string | null = null;
  const collections: FullCollection[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line.trim());
    if (!m) {
      continue;
    }
    main ??= m[1];
    if (m[1] !== main) {
      continue;
    }
    const step = STEP.exec(m[6]);
    collections.push({
      atMs: Number(m[2]),
      pauseMs: Number(m[5]),
      longestStepMs: step ? Number(step[1]) : null,
      afterMb: Number(m[4]),
      reducer: m[3] !== undefined,
    });
  }
  return collections;
}

/**
 * What the full collections between `fromMs` and `toMs` (isolate time) held the event loop
 * for, as a sentence; `where` names the span (e.g. "the measured rounds").
 */
export function gcTraceSentence(
  collections: readonly FullCollection[],
  fromMs: number,
  toMs: number,
  where: string,
): string {
  const inSpan = collections.filter((c) => c.atMs >= fromMs && c.atMs <= toMs);
  if (inSpan.length === 0) {
    return `no full collection in ${where}`;
  }
  const pauses = inSpan.map((c) => c.pauseMs.toFixed(1)).join(', ');
  const steps = inSpan.flatMap((c) => (c.longestStepMs === null ? [] : [c.longestStepMs]));
  const reducer = inSpan.filter((c) => c.reducer).length;
  const heap = inSpan.map((c) => c.afterMb);
  return (
    `${inSpan.length} full collection${inSpan.length === 1 ? '' : 's'} in ${where}: ` +
    `final pauses ${pauses} ms` +
    (steps.length > 0 ? `, longest marking step ${Math.max(...steps).toFixed(1)} ms` : '') +
    (reducer > 0 ? `, ${reducer} started by the memory reducer` : '') +
    `, live heap after ${Math.min(...heap).toFixed(1)} to ${Math.max(...heap).toFixed(1)} MB`
  );
}
