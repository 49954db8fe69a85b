import { JsonLogger } from '../../src/common/json-logger';
import { LogLevel } from '../../src/config/app-config';
import { UsageError } from './args';

/** A failure the tool explains itself, with the process exit code it maps to. */
export class ToolError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

export const EXIT_USAGE = 2;

/**
 * Runs a tool's main function and exits with its code. ToolError and UsageError print their
 * message (no stack); anything else prints the stack and exits 1.
 */
export function runMain(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (error instanceof ToolError) {
        process.stderr.write(`${name}: ${error.message}\n`);
        process.exitCode = error.exitCode;
      } else if (error instanceof UsageError) {
        process.stderr.write(`${name}: ${error.message}\n`);
        process.exitCode = EXIT_USAGE;
      } else {
        process.stderr.write(
          `${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
        );
        process.exitCode = 1;
      }
    },
  );
}

/** Hides the password of a database URL for output; other strings pass unchanged. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== '') {
      url.password = '***';
      return url.toString();
    }
    return text;
  } catch {
    return text;
  }
}

/**
 * The service's JSON logger writing to stderr, so a tool's stdout holds only its own output
 * (summary, table) while the shared services still log (e.g. applied migrations) in the same
 * one-object-per-line format as the server, at LOG_LEVEL.
 */
export class StderrLogger extends JsonLogger {
  constructor(level: LogLevel) {
    super(level, (line) => process.stderr.write(line));
  }
}
