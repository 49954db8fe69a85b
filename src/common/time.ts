/** The ISO 8601 text of the current second up to its dot ("2026-12-03T07:22:34."). */
let secondText = '';
/** The first millisecond of that second (Date.now clock); NaN before the first call. */
let secondStart = Number.NaN;

/**
 * Timestamps are stored and returned as ISO 8601 UTC strings. The same text as
 * `new Date().toISOString()`, made from the current second's text (formatted once a second)
 * and the milliseconds: the gateway stamps every call's ledger row, and a Date formatted
 * per call was about 1% of its time.
 */
export function now(): string {
  const ms = Date.now();
  if (!(ms >= secondStart && ms < secondStart + 1000)) {
    secondStart = ms - (ms % 1000);
    secondText = new Date(secondStart).toISOString().slice(0, 20);
  }
  const milli = ms - secondStart;
  return `${secondText}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}
