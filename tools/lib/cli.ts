import { ConsoleLogger, LogLevel } from '@nestjs/common';
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
 * Nest's console logger writing every level to stderr, so a tool's stdout holds only its
 * own output (summary, table) while the shared services still log (e.g. applied migrations).
 */
export class StderrLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    _writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack);
  }
}
