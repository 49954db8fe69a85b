import { isIP } from 'node:net';
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
    name: 'LISTEN_SOCKETS',
    default: '16',
    description:
      'Sockets sharing the port (SO_REUSEPORT, Node 22.12 or later on Linux): a busy server admits this many new connections per event-loop turn instead of one; older Node uses 1.',
  },
  {
    name: 'REQUESTS_PER_TURN',
    default: '',
    description:
      'Most requests begun per turn of the event loop, the rest waiting in order, so that database answers are read between them; empty: 64 on PostgreSQL, 0 (no limit) on SQLite.',
  },
  {
    name: 'DATABASE_URL',
    default: 'sqlite:./data/app.db',
    description: 'sqlite:<file> (embedded, WAL mode) or postgres://user:pass@host:5432/db.',
  },
  {
    name: 'DATABASE_POOL_SIZE',
    default: '20',
    description:
      'PostgreSQL connection pool size; up to this minus 2 write transactions run at once.',
  },
  {
    name: 'SQLITE_BUSY_TIMEOUT_MS',
    default: '5000',
    description: 'How long SQLite waits for a lock held by another process before failing.',
  },
  {
    name: 'SQLITE_CHECKPOINT_INTERVAL_MS',
    default: '1000',
    description:
      'How often a worker thread copies the SQLite WAL back into the database file, off the event loop; 0 leaves it to SQLite, inside the commit that passes 1000 pages.',
  },
  {
    name: 'ADMIN_API_KEYS',
    default: '',
    description: 'Comma-separated API keys that act as site admins (at least 32 characters each).',
  },
  {
    name: 'WEBUI_SECRET_KEY',
    default: '',
    description:
      'HS256 secret of the web UI session tokens (at least 32 characters); empty refuses every session token.',
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
    description:
      'When set (at least 32 characters), GET /metrics requires Authorization: Bearer <METRICS_TOKEN>.',
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
    name: 'AUDIT_RETENTION_DAYS',
    default: '365',
    description:
      'Audit events older than this many days are deleted, hourly in small batches; 0 keeps them forever.',
  },
  {
    name: 'JWT_REQUIRE_EXP',
    default: 'true',
    description:
      'Refuse web UI session tokens without an exp claim; false accepts them (Open WebUI with JWT_EXPIRES_IN=-1).',
  },
  {
    name: 'TRUST_PROXY',
    default: 'false',
    description:
      'Comma-separated addresses or CIDRs of your reverse proxies (e.g. 127.0.0.1,10.0.0.0/8): X-Forwarded-For is read only from them; false trusts none.',
  },
  {
    name: 'GATEWAY_API_KEYS',
    default: '',
    description:
      'Comma-separated keys (at least 32 characters each) a chat front end such as Open WebUI uses on /v1 with forwarded user headers.',
  },
  {
    name: 'OPENROUTER_BASE_URL',
    default: 'https://openrouter.ai/api/v1',
    description: 'Upstream OpenAI-compatible API the gateway forwards /v1 calls to.',
  },
  {
    name: 'OPENROUTER_API_KEY',
    default: '',
    description: 'Bearer key sent upstream; empty makes the gateway answer 503 to model calls.',
  },
  {
    name: 'OPENROUTER_HTTP_REFERER',
    default: '',
    description: 'Optional HTTP-Referer attribution header sent upstream (your site URL).',
  },
  {
    name: 'OPENROUTER_X_TITLE',
    default: '',
    description: 'Optional X-Title attribution header sent upstream (your app name).',
  },
  {
    name: 'UPSTREAM_TIMEOUT_MS',
    default: '120000',
    description: 'How long the gateway waits for the upstream response headers (first byte).',
  },
  {
    name: 'UPSTREAM_IDLE_TIMEOUT_MS',
    default: '60000',
    description: 'Longest silence allowed inside an upstream answer (a stalled stream is cut).',
  },
  {
    name: 'UPSTREAM_MAX_SOCKETS',
    default: '1024',
    description: 'Most concurrent upstream connections (kept alive and reused).',
  },
  {
    name: 'FORWARD_USER_INFO_HEADER_USER_ID',
    default: 'X-OpenWebUI-User-Id',
    description: 'Header carrying the user id forwarded with a gateway key (as in Open WebUI).',
  },
  {
    name: 'FORWARD_USER_INFO_HEADER_USER_NAME',
    default: 'X-OpenWebUI-User-Name',
    description: 'Header carrying the URL-encoded user name forwarded with a gateway key.',
  },
  {
    name: 'FORWARD_USER_INFO_HEADER_USER_EMAIL',
    default: 'X-OpenWebUI-User-Email',
    description: 'Header carrying the user email forwarded with a gateway key.',
  },
  {
    name: 'FORWARD_USER_INFO_HEADER_USER_ROLE',
    default: 'X-OpenWebUI-User-Role',
    description:
      'Header carrying the user role (pending, user, admin) forwarded with a gateway key.',
  },
  {
    name: 'CATALOG_SYNC_INTERVAL_SECONDS',
    default: '0',
    description:
      "Sync the catalog from the upstream's /models every so many seconds (0: only on POST /api/v1/models/sync).",
  },
  {
    name: 'USAGE_FLUSH_INTERVAL_MS',
    default: '1000',
    description: 'How often buffered usage ledger rows are written to the database.',
  },
  {
    name: 'USAGE_BATCH_SIZE',
    default: '50',
    description:
      'Usage ledger rows that start a write at once when they wait (an INSERT writes at most 50).',
  },
  {
    name: 'REDIS_URL',
    default: '',
    description:
      'redis://host:6379 where every replica counts rpm/tpm limits; empty counts them in this process (one replica only).',
  },
  {
    name: 'REDIS_KEY_PREFIX',
    default: 'mas:',
    description: 'Prefix of every Redis key this service writes (to share one Redis).',
  },
  {
    name: 'REDIS_FAILURE_MODE',
    default: 'closed',
    description:
      'When Redis cannot be reached: closed refuses calls under a rate limit (503), open lets them through uncounted.',
  },
  {
    name: 'BUDGET_WEBHOOK_URL',
    default: '',
    description:
      'http(s) URL that receives a signed POST when an organization crosses a budget alert threshold; empty sends none.',
  },
  {
    name: 'BUDGET_WEBHOOK_SECRET',
    default: '',
    description:
      'HMAC-SHA256 key of the X-Budget-Signature header (at least 32 characters; required with BUDGET_WEBHOOK_URL).',
  },
  {
    name: 'BUDGET_WEBHOOK_MAX_ATTEMPTS',
    default: '8',
    description: 'Deliveries tried per alert before giving up (the wait doubles after each).',
  },
  {
    name: 'BUDGET_WEBHOOK_RETRY_BASE_MS',
    default: '1000',
    description: 'Wait before the second delivery attempt of an alert, in milliseconds.',
  },
];

export const REDIS_FAILURE_MODES = ['closed', 'open'] as const;

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

  /** An HTTP header name, lower-cased as Node presents incoming headers. */
  header(name: string): string {
    const text = this.raw(name);
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(text)) {
      this.problems.push(`${name}="${text}" must be an HTTP header name`);
    }
    return text.toLowerCase();
  }

  list(name: string): string[] {
    return this.raw(name)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
}

/**
 * Variables that hold secrets. Each value (each entry of a comma-separated `_KEYS` list) must
 * be at least MIN_SECRET_LENGTH characters and not a publicly known default, or the boot
 * stops. A name listed here is checked as soon as it is set, even by a module that reads it
 * elsewhere (GATEWAY_API_KEYS).
 */
export const SECRET_VARIABLES = [
  'ADMIN_API_KEYS',
  'WEBUI_SECRET_KEY',
  'METRICS_TOKEN',
  'GATEWAY_API_KEYS',
] as const;

export const MIN_SECRET_LENGTH = 32;

/**
 * Secrets published in documentation and images (compared without case): Open WebUI's old
 * WEBUI_SECRET_KEY default, and the placeholders of this project's and common examples.
 */
const PUBLIC_DEFAULT_SECRETS = new Set([
  't0p-s3cr3t',
  'change-me-to-a-long-random-key',
  'changeme',
  'change-me',
  'secret',
  'your-secret-key',
  'your_secret_key',
  'supersecret',
  'password',
]);

/** Why a secret value is too weak to run with, or null; never repeats the value. */
export function weakSecretProblem(what: string, value: string): string | null {
  if (PUBLIC_DEFAULT_SECRETS.has(value.toLowerCase())) {
    return `${what} is a publicly known default value; generate one with: openssl rand -hex 32`;
  }
  if (value.length < MIN_SECRET_LENGTH) {
    return `${what} is ${value.length} characters; at least ${MIN_SECRET_LENGTH} are required (openssl rand -hex 32)`;
  }
  if (new Set(value).size < 8) {
    return `${what} repeats fewer than 8 distinct characters; use a random value (openssl rand -hex 32)`;
  }
  return null;
}

/** Applies weakSecretProblem to every set secret variable (each entry of a `_KEYS` list). */
function checkSecrets(reader: Reader): void {
  for (const name of SECRET_VARIABLES) {
    const values = name.endsWith('_KEYS') ? reader.list(name) : [reader.raw(name)];
    for (const [i, value] of values.entries()) {
      if (value === '') {
        continue;
      }
      const what = values.length > 1 || name.endsWith('_KEYS') ? `${name} entry ${i + 1}` : name;
      const problem = weakSecretProblem(what, value);
      if (problem) {
        reader.problems.push(problem);
      }
    }
  }
}

/** One address (IPv4 or IPv6) or CIDR, as TRUST_PROXY takes them. */
export function isAddressOrCidr(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) {
    return false;
  }
  if (prefix === undefined) {
    return true;
  }
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY: the proxies whose X-Forwarded-For is believed. `true` is refused: trusting
 * every hop lets any client write the address the failure limiter counts.
 */
function trustedProxies(reader: Reader): string[] {
  const text = reader.raw('TRUST_PROXY');
  if (['false', '0', 'no', 'off'].includes(text.toLowerCase())) {
    return [];
  }
  if (['true', '1', 'yes', 'on'].includes(text.toLowerCase())) {
    reader.problems.push(
      'TRUST_PROXY=true would let any client choose the address that rate limits count; list the addresses or CIDRs of your proxies instead, e.g. TRUST_PROXY=127.0.0.1 or TRUST_PROXY=10.0.0.0/8',
    );
    return [];
  }
  const entries = reader.list('TRUST_PROXY');
  const bad = entries.filter((entry) => !isAddressOrCidr(entry));
  if (bad.length > 0 || entries.length === 0) {
    reader.problems.push(
      `TRUST_PROXY="${text}" must be false or comma-separated IP addresses or CIDRs (e.g. 127.0.0.1,10.0.0.0/8)`,
    );
    return [];
  }
  return entries;
}

function isUrl(text: string): boolean {
  try {
    new URL(text);
    return true;
  } catch {
    return false;
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

function readBudgetSettings(r: Reader, config: AppConfig): void {
  const redisUrl = r.raw('REDIS_URL');
  config.redisUrl = redisUrl === '' ? null : redisUrl;
  if (redisUrl !== '' && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    r.problems.push(
      'REDIS_URL must start with redis:// or rediss:// (e.g. redis://127.0.0.1:6379)',
    );
  }
  config.redisKeyPrefix = r.raw('REDIS_KEY_PREFIX');
  const mode = r.raw('REDIS_FAILURE_MODE').toLowerCase();
  if (!(REDIS_FAILURE_MODES as readonly string[]).includes(mode)) {
    r.problems.push(`REDIS_FAILURE_MODE="${mode}" must be closed or open`);
  }
  config.redisFailureMode = mode === 'open' ? 'open' : 'closed';
  const webhookUrl = r.raw('BUDGET_WEBHOOK_URL');
  config.budgetWebhookUrl = webhookUrl === '' ? null : webhookUrl;
  if (webhookUrl !== '' && !/^https?:\/\/[^\s]+$/.test(webhookUrl)) {
    r.problems.push('BUDGET_WEBHOOK_URL must be an http:// or https:// URL');
  }
  config.budgetWebhookSecret = r.raw('BUDGET_WEBHOOK_SECRET');
  if (webhookUrl !== '' && config.budgetWebhookSecret.length < 32) {
    r.problems.push(
      `BUDGET_WEBHOOK_SECRET is ${config.budgetWebhookSecret.length} characters; at least 32 are required with BUDGET_WEBHOOK_URL`,
    );
  }
  config.budgetWebhookMaxAttempts = r.int('BUDGET_WEBHOOK_MAX_ATTEMPTS', 1, 100);
  config.budgetWebhookRetryBaseMs = r.int('BUDGET_WEBHOOK_RETRY_BASE_MS', 1, 3_600_000);
}

/** The disk that fills up is the database's: the SQLite file's directory, else the working directory. */
function defaultDiskPath(config: AppConfig): string {
  return config.databaseKind === 'sqlite' && config.sqlitePath !== ':memory:'
    ? dirname(config.sqlitePath)
    : '.';
}

/** Requests begun per turn of the event loop on PostgreSQL when REQUESTS_PER_TURN is empty. */
export const DEFAULT_REQUESTS_PER_TURN_POSTGRES = 64;

/** Reads and validates the environment. Throws ConfigError naming every bad value. */
export function loadConfig(env: Env = process.env): AppConfig {
  const r = new Reader(env);
  const config = new AppConfig();
  config.port = r.int('PORT', 0, 65535);
  config.host = r.raw('HOST');
  config.listenSockets = r.int('LISTEN_SOCKETS', 1, 64);
  config.databaseUrl = r.raw('DATABASE_URL');
  const db = parseDatabaseUrl(r, config.databaseUrl);
  config.databaseKind = db.kind;
  config.requestsPerTurn =
    r.raw('REQUESTS_PER_TURN') === ''
      ? db.kind === 'postgres'
        ? DEFAULT_REQUESTS_PER_TURN_POSTGRES
        : 0
      : r.int('REQUESTS_PER_TURN', 0, 100_000);
  config.sqlitePath = db.sqlitePath;
  config.databasePoolSize = r.int('DATABASE_POOL_SIZE', 1, 1000);
  config.sqliteBusyTimeoutMs = r.int('SQLITE_BUSY_TIMEOUT_MS', 0, 600000);
  config.sqliteCheckpointIntervalMs = r.int('SQLITE_CHECKPOINT_INTERVAL_MS', 0, 3_600_000);
  config.adminApiKeys = r.list('ADMIN_API_KEYS');
  checkSecrets(r);
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
  config.auditRetentionDays = r.int('AUDIT_RETENTION_DAYS', 0, 36500);
  config.jwtRequireExp = r.bool('JWT_REQUIRE_EXP');
  config.trustProxy = trustedProxies(r);
  config.gatewayApiKeys = r.list('GATEWAY_API_KEYS');
  for (const [i, key] of config.gatewayApiKeys.entries()) {
    if (config.adminApiKeys.includes(key)) {
      r.problems.push(
        `GATEWAY_API_KEYS entry ${i + 1} is also an ADMIN_API_KEYS key; use distinct keys`,
      );
    }
  }
  config.openrouterBaseUrl = r.raw('OPENROUTER_BASE_URL').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(config.openrouterBaseUrl) || !isUrl(config.openrouterBaseUrl)) {
    r.problems.push(
      `OPENROUTER_BASE_URL="${config.openrouterBaseUrl}" must be an http:// or https:// URL`,
    );
  }
  config.openrouterApiKey = r.raw('OPENROUTER_API_KEY');
  config.openrouterHttpReferer = r.raw('OPENROUTER_HTTP_REFERER');
  config.openrouterXTitle = r.raw('OPENROUTER_X_TITLE');
  for (const name of ['OPENROUTER_HTTP_REFERER', 'OPENROUTER_X_TITLE', 'OPENROUTER_API_KEY']) {
    if (/[^\x20-\x7e]/.test(r.raw(name))) {
      r.problems.push(`${name} must hold printable ASCII only (it is sent as an HTTP header)`);
    }
  }
  config.upstreamTimeoutMs = r.int('UPSTREAM_TIMEOUT_MS', 100, 3_600_000);
  config.upstreamIdleTimeoutMs = r.int('UPSTREAM_IDLE_TIMEOUT_MS', 100, 3_600_000);
  config.upstreamMaxSockets = r.int('UPSTREAM_MAX_SOCKETS', 1, 100_000);
  config.forwardedUserHeaders = {
    id: r.header('FORWARD_USER_INFO_HEADER_USER_ID'),
    name: r.header('FORWARD_USER_INFO_HEADER_USER_NAME'),
    email: r.header('FORWARD_USER_INFO_HEADER_USER_EMAIL'),
    role: r.header('FORWARD_USER_INFO_HEADER_USER_ROLE'),
  };
  config.catalogSyncIntervalSeconds = r.int('CATALOG_SYNC_INTERVAL_SECONDS', 0, 30 * 86400);
  config.usageFlushIntervalMs = r.int('USAGE_FLUSH_INTERVAL_MS', 10, 60_000);
  config.usageBatchSize = r.int('USAGE_BATCH_SIZE', 1, 5000);
  readBudgetSettings(r, config);
  if (r.problems.length > 0) {
    throw new ConfigError(r.problems);
  }
  return config;
}
