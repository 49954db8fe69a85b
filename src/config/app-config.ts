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
  /** `sqlite:<path>` or `postgres://...` as given. */
  databaseUrl: string;
  databaseKind: DatabaseKind;
  /** SQLite file path (`:memory:` allowed), set when databaseKind is sqlite. */
  sqlitePath: string;
  databasePoolSize: number;
  sqliteBusyTimeoutMs: number;
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
  trustProxy: boolean;
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
