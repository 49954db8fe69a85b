import { dirname } from 'node:path';
import { AppConfig, DatabaseKind, LOG_LEVELS, LogLevel } from './app-config';

/** One documented environment variable: its default and what it means. */
export interface ConfigVariable {
  name: string;
  default: string;
  description: string;
}

/** Every variable the service reads. `.env.example` and the README table list the same set. */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  { name: 'PORT', default: '8080', description: 'TCP port the HTTP server listens on.' },
  { name: 'HOST', default: '0.0.0.0', description: 'Interface the HTTP server binds to.' },
  {
    name: 'DATABASE_URL',
    default: 'sqlite:./data/app.db',
    description: 'sqlite:<file> (embedded, WAL mode) or postgres://user:pass@host:5432/db.',
  },
  { name: 'DATABASE_POOL_SIZE', default: '10', description: 'PostgreSQL connection pool size.' },
  {
    name: 'SQLITE_BUSY_TIMEOUT_MS',
    default: '5000',
    description: 'How long SQLite waits for a lock held by another process before failing.',
  },
  {
    name: 'ADMIN_API_KEYS',
    default: '',
    description: 'Comma-separated API keys that act as site admins (at least 16 characters each).',
  },
  {
    name: 'WEBUI_SECRET_KEY',
    default: '',
    description: 'HS256 secret of the web UI session tokens; empty refuses every session token.',
  },
  {
    name: 'OPENROUTER_EXTERNAL_USER',
    default: '',
    description: 'When set, the default organization (id and external_user) is created at boot.',
  },
  {
    name: 'ORGANIZATION_NAME',
    default: 'Default Organization',
    description: 'Display name of the default organization.',
  },
  {
    name: 'AUTO_JOIN_DEFAULT_ORGANIZATION',
    default: 'true',
    description: 'Add each new user to the default organization as a member.',
  },
  { name: 'LOG_LEVEL', default: 'info', description: 'fatal, error, warn, info, debug or trace.' },
  {
    name: 'METRICS_TOKEN',
    default: '',
    description: 'When set, GET /metrics requires Authorization: Bearer <METRICS_TOKEN>.',
  },
  {
    name: 'CORS_ORIGINS',
    default: '',
    description: 'Comma-separated origins allowed by CORS; empty disables CORS, * allows any.',
  },
  { name: 'BODY_LIMIT_BYTES', default: '1048576', description: 'Largest request body accepted.' },
  {
    name: 'AUTH_FAILURE_LIMIT',
    default: '20',
    description: 'Failed authentications allowed per client address per window before 429.',
  },
  {
    name: 'AUTH_FAILURE_WINDOW_SECONDS',
    default: '60',
    description: 'Window of the failed-authentication limit, in seconds.',
  },
  {
    name: 'ACCESS_CACHE_SIZE',
    default: '100000',
    description: 'Users whose computed model access is kept in memory (0 disables the cache).',
  },
  {
    name: 'HEALTH_DISK_PATH',
    default: '',
    description:
      "Path whose file system /health/detailed checks for free space; empty: the SQLite file's directory (the working directory on PostgreSQL).",
  },
  {
    name: 'HEALTH_DISK_THRESHOLD',
    default: '0.95',
    description: 'Used fraction of the disk above which /health/detailed reports down.',
  },
  {
    name: 'HEALTH_HEAP_LIMIT_MB',
    default: '512',
    description: 'Heap use above which /health/detailed reports down.',
  },
  {
    name: 'HEALTH_RSS_LIMIT_MB',
    default: '1024',
    description: 'Resident memory above which /health/detailed reports down.',
  },
  {
    name: 'SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    description: 'How long a graceful shutdown waits for in-flight requests.',
  },
  {
    name: 'TRUST_PROXY',
    default: 'false',
    description: 'Trust X-Forwarded-For from a reverse proxy (client address for rate limits).',
  },
];

/** Thrown when the environment holds bad values; lists every problem at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

class Reader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  raw(name: string): string {
    const fallback = CONFIG_VARIABLES.find((v) => v.name === name)?.default ?? '';
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? fallback : value.trim();
  }

  int(name: string, min: number, max: number): number {
    const text = this.raw(name);
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || value < min || value > max) {
      this.problems.push(`${name}="${text}" must be an integer from ${min} to ${max}`);
      return min;
    }
    return value;
  }

  fraction(name: string): number {
    const text = this.raw(name);
    const value = Number(text);
    if (text === '' || Number.isNaN(value) || value <= 0 || value > 1) {
      this.problems.push(`${name}="${text}" must be a number greater than 0 and at most 1`);
      return 1;
    }
    return value;
  }

  bool(name: string): boolean {
    const text = this.raw(name).toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(text)) {
      return true;
    }
    if (['false', '0', 'no', 'off'].includes(text)) {
      return false;
    }
    this.problems.push(`${name}="${text}" must be true or false`);
    return false;
  }

  list(name: string): string[] {
    return this.raw(name)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
}

export const EXTERNAL_USER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

function parseDatabaseUrl(reader: Reader, url: string): { kind: DatabaseKind; sqlitePath: string } {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    try {
      new URL(url);
    } catch {
      reader.problems.push('DATABASE_URL is not a valid postgres:// URL');
    }
    return { kind: 'postgres', sqlitePath: '' };
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') {
      reader.problems.push('DATABASE_URL="sqlite:" needs a file path, e.g. sqlite:./data/app.db');
    }
    return { kind: 'sqlite', sqlitePath: path };
  }
  reader.problems.push(
    `DATABASE_URL must start with sqlite: or postgres:// (got "${url.split(':')[0]}:...")`,
  );
  return { kind: 'sqlite', sqlitePath: '' };
}

/** The disk that fills up is the database's: the SQLite file's directory, else the working directory. */
function defaultDiskPath(config: AppConfig): string {
  return config.databaseKind === 'sqlite' && config.sqlitePath !== ':memory:'
    ? dirname(config.sqlitePath)
    : '.';
}

/** Reads and validates the environment. Throws ConfigError naming every bad value. */
export function loadConfig(env: Env = process.env): AppConfig {
  const r = new Reader(env);
  const config = new AppConfig();
  config.port = r.int('PORT', 0, 65535);
  config.host = r.raw('HOST');
  config.databaseUrl = r.raw('DATABASE_URL');
  const db = parseDatabaseUrl(r, config.databaseUrl);
  config.databaseKind = db.kind;
  config.sqlitePath = db.sqlitePath;
  config.databasePoolSize = r.int('DATABASE_POOL_SIZE', 1, 1000);
  config.sqliteBusyTimeoutMs = r.int('SQLITE_BUSY_TIMEOUT_MS', 0, 600000);
  config.adminApiKeys = r.list('ADMIN_API_KEYS');
  for (const [i, key] of config.adminApiKeys.entries()) {
    if (key.length < 16) {
      r.problems.push(
        `ADMIN_API_KEYS entry ${i + 1} is ${key.length} characters; at least 16 are required`,
      );
    }
  }
  config.webuiSecretKey = r.raw('WEBUI_SECRET_KEY');
  const externalUser = r.raw('OPENROUTER_EXTERNAL_USER');
  config.openrouterExternalUser = externalUser === '' ? null : externalUser;
  if (externalUser !== '' && !EXTERNAL_USER_PATTERN.test(externalUser)) {
    r.problems.push(
      `OPENROUTER_EXTERNAL_USER="${externalUser}" must be 1-64 letters, digits, _ or -, starting with a letter or digit`,
    );
  }
  config.organizationName = r.raw('ORGANIZATION_NAME');
  if (config.organizationName.length > 255) {
    r.problems.push('ORGANIZATION_NAME must be at most 255 characters');
  }
  config.autoJoinDefaultOrganization = r.bool('AUTO_JOIN_DEFAULT_ORGANIZATION');
  const level = r.raw('LOG_LEVEL').toLowerCase();
  if (!LOG_LEVELS.includes(level as LogLevel)) {
    r.problems.push(`LOG_LEVEL="${level}" must be one of ${LOG_LEVELS.join(', ')}`);
  }
  config.logLevel = LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'info';
  const metricsToken = r.raw('METRICS_TOKEN');
  config.metricsToken = metricsToken === '' ? null : metricsToken;
  config.corsOrigins = r.list('CORS_ORIGINS');
  config.bodyLimitBytes = r.int('BODY_LIMIT_BYTES', 1024, 100 * 1024 * 1024);
  config.authFailureLimit = r.int('AUTH_FAILURE_LIMIT', 1, 1_000_000);
  config.authFailureWindowSeconds = r.int('AUTH_FAILURE_WINDOW_SECONDS', 1, 86400);
  config.accessCacheSize = r.int('ACCESS_CACHE_SIZE', 0, 10_000_000);
  config.healthDiskPath = r.raw('HEALTH_DISK_PATH') || defaultDiskPath(config);
  config.healthDiskThreshold = r.fraction('HEALTH_DISK_THRESHOLD');
  config.healthHeapLimitBytes = r.int('HEALTH_HEAP_LIMIT_MB', 16, 1_000_000) * 1024 * 1024;
  config.healthRssLimitBytes = r.int('HEALTH_RSS_LIMIT_MB', 16, 1_000_000) * 1024 * 1024;
  config.shutdownTimeoutMs = r.int('SHUTDOWN_TIMEOUT_MS', 0, 600000);
  config.trustProxy = r.bool('TRUST_PROXY');
  if (r.problems.length > 0) {
    throw new ConfigError(r.problems);
  }
  return config;
}
