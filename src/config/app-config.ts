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
}
