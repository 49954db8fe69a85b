import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** What `loadEnvFile` did, for the boot log. */
export interface EnvFileResult {
  /** Absolute path of the file loaded, or null when there was none. */
  file: string | null;
  /** Variables the file set (those already in the environment are kept and not counted). */
  variables: string[];
}

/**
 * Loads `.env` from the working directory into the environment when it exists, with Node's
 * own parser (`process.loadEnvFile`, Node >= 20.12). A variable already set in the
 * environment wins over the file, so `PORT=9000 npm start` still overrides it.
 */
export function loadEnvFile(cwd: string = process.cwd()): EnvFileResult {
  const file = resolve(cwd, '.env');
  if (!existsSync(file)) {
    return { file: null, variables: [] };
  }
  const before = new Set(Object.keys(process.env));
  process.loadEnvFile(file);
  return { file, variables: Object.keys(process.env).filter((name) => !before.has(name)) };
}
