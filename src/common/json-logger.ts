import { LoggerService } from '@nestjs/common';
import { LOG_LEVELS, LogLevel } from '../config/app-config';
import { currentRequestId } from './request-context';

const NEST_TO_LEVEL: Record<string, LogLevel> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/** Never let a credential reach the log. */
const SECRET_PATTERNS: RegExp[] = [
  /(Bearer\s+)[^\s"']+/gi,
  /(eyJ[A-Za-z0-9_-]{5,}\.)[A-Za-z0-9._-]+/g,
];

export function redact(text: string): string {
  return SECRET_PATTERNS.reduce((t, p) => t.replace(p, '$1[redacted]'), text);
}

/** One JSON object per line: time, level, context, msg, and any fields given. */
export class JsonLogger implements LoggerService {
  private readonly threshold: number;

  constructor(
    level: LogLevel,
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
  ) {
    this.threshold = LOG_LEVELS.indexOf(level);
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.emit('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.emit('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.emit('fatal', message, rest);
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.threshold;
  }

  private emit(nestLevel: string, message: unknown, rest: unknown[]): void {
    const level = NEST_TO_LEVEL[nestLevel] ?? 'info';
    if (!this.enabled(level)) {
      return;
    }
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const fields: Record<string, unknown> =
      message !== null && typeof message === 'object' && !(message instanceof Error)
        ? { ...(message as Record<string, unknown>) }
        : { msg: message instanceof Error ? message.message : String(message) };
    if (nestLevel === 'error' && typeof rest[0] === 'string' && rest[0].includes('\n')) {
      fields.stack = rest[0];
    }
    const line = JSON.stringify({
      time: new Date().toISOString(),
      level,
      context,
      request_id: currentRequestId(),
      ...fields,
    });
    this.write(`${redact(line)}\n`);
  }
}
