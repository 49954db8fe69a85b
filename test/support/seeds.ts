import { randomInt } from 'node:crypto';

/** One seeded run of a randomized spec. */
export interface SeededRun {
  seed: number;
  /** false for the one random seed of the run (printed before it is used). */
  pinned: boolean;
}

/**
 * The seeds a randomized spec runs: `override` alone when set (a replay), otherwise the fixed
 * list, which CI runs every time, plus (when `random` is true) one fresh seed, printed so a
 * failure it finds can be replayed with `<variable>=<seed>`.
 */
export function seedPlan(
  variable: string,
  override: string | undefined,
  fixed: readonly number[],
  random = true,
): SeededRun[] {
  if (override !== undefined && override !== '') {
    const seed = Number(override);
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`${variable} must be an integer, got "${override}"`);
    }
    return [{ seed, pinned: true }];
  }
  const runs = fixed.map((seed) => ({ seed, pinned: true }));
  if (random) {
    const seed = randomInt(1, 2 ** 31 - 1);
    process.stdout.write(`${variable}: random seed ${seed} (replay with ${variable}=${seed})\n`);
    runs.push({ seed, pinned: false });
  }
  return runs;
}
