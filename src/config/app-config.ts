import { Injectable } from '@nestjs/common';

export type DatabaseKind = 'sqlite' | 'postgres';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/**
 * The validated configuration of one process. Built once at boot by `loadConfig`
 * from the environment; every other module reads configuration through this class.
 */
@Injectable()
export class AppConfig {
  port: number;
  host: string;
  /** Listening sockets sharing the port (SO_REUSEPORT), where Node supports it. */
  listenSockets: number;
  /** Most requests begun per turn of the event loop (0: no limit); see turn-pacer.ts. */
  requestsPerTurn: number;
  /** `sqlite:<path>` or `postgres://...` as given. */
  databaseUrl: string;
  databaseKind: DatabaseKind;
  /** SQLite file path (`:memory:` allowed), set when databaseKind is sqlite. */
  sqlitePath: string;
  databasePoolSize: number;
  sqliteBusyTimeoutMs: number;
  /** How often a worker thread checkpoints the SQLite WAL; 0 leaves it to SQLite's commits. */
  sqliteCheckpointIntervalMs: number;
  adminApiKeys: string[];
  webuiSecretKey: string;
  openrouterExternalUser: string | null;
  organizationName: string;
  autoJoinDefaultOrganization: boolean;
  logLevel: LogLevel;
  metricsToken: string | null;
  corsOrigins: string[];
  bodyLimitBytes: number;
  authFailureLimit: number;
  authFailureWindowSeconds: number;
  accessCacheSize: number;
  healthDiskPath: string;
  healthDiskThreshold: number;
  healthHeapLimitBytes: number;
  healthRssLimitBytes: number;
  shutdownTimeoutMs: number;
  /** Audit events older than this many days are deleted (0 keeps them forever). */
  auditRetentionDays: number;
  /** Session tokens without `exp` are refused unless false. */
  jwtRequireExp: boolean;
  /** Addresses or CIDRs of trusted reverse proxies (empty: X-Forwarded-For is ignored). */
  trustProxy: string[];
  /** Keys a chat front end uses on /v1, with forwarded user headers. */
  gatewayApiKeys: string[];
  /** Upstream base URL without a trailing slash, e.g. https://openrouter.ai/api/v1. */
  openrouterBaseUrl: string;
  openrouterApiKey: string;
  openrouterHttpReferer: string;
  openrouterXTitle: string;
  upstreamTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  upstreamMaxSockets: number;
  /** Names (lower case) of the headers carrying the forwarded user. */
  forwardedUserHeaders: { id: string; name: string; email: string; role: string };
  /** 0: catalog sync only on request. */
  catalogSyncIntervalSeconds: number;
  usageFlushIntervalMs: number;
  usageBatchSize: number;
  /** Where rate limits are counted across replicas; null counts them in this process. */
  redisUrl: string | null;
  redisKeyPrefix: string;
  /** What a rate-limited call gets while Redis is unreachable. */
  redisFailureMode: 'closed' | 'open';
  budgetWebhookUrl: string | null;
  budgetWebhookSecret: string;
  budgetWebhookMaxAttempts: number;
  budgetWebhookRetryBaseMs: number;
}
