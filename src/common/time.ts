/** Timestamps are stored and returned as ISO 8601 UTC strings. */
export function now(): string {
  return new Date().toISOString();
}
