import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config';

/** One counter and its per-minute limit: requests (rpm) or tokens (tpm). */
export interface LimitKey {
  key: string;
  limit: number;
}

export type LimitDecision =
  | { allowed: true }
  | { allowed: false; reason: 'rate_limited'; retryAfterMs: number }
  | { allowed: false; reason: 'limiter_unavailable'; retryAfterMs: number };

export interface LimiterState {
  backend: 'redis' | 'memory';
  status: 'up' | 'down';
  failure_mode: 'closed' | 'open';
  last_error: string | null;
}

export const WINDOW_MS = 60_000;

/**
 * Checks both kinds of counters and, only when every one fits, records the request.
 * Requests (rpm): a sliding log of the last minute (a sorted set of request times), so no
 * 60-second span ever holds more than the limit. Tokens (tpm): a fixed window per UTC
 * minute that a call may enter while the tokens already used are below the limit; the
 * call's tokens are added when it ends (they are known only then). Time is Redis's own.
 */
const ADMIT_SCRIPT = `
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local member = ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, #KEYS do
  local limit = tonumber(ARGV[3 + i])
  if i <= n then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    if redis.call('ZCARD', KEYS[i]) >= limit then
      local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      local w = window
      if oldest[2] then w = tonumber(oldest[2]) + window - now end
      if w > wait then wait = w end
    end
  else
    local start = now - (now % window)
    local used = 0
    if tonumber(redis.call('HGET', KEYS[i], 'w') or '-1') == start then
      used = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
    end
    if used >= limit then
      local w = start + window - now
      if w > wait then wait = w end
    end
  end
end
if wait > 0 then return wait end
for i = 1, n do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], window)
end
return 0
`;

const ADD_TOKENS_SCRIPT = `
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start = now - (now % window)
for i = 1, #KEYS do
  if tonumber(redis.call('HGET', KEYS[i], 'w') or '-1') ~= start then
    redis.call('HSET', KEYS[i], 'w', start, 'n', 0)
  end
  redis.call('HINCRBY', KEYS[i], 'n', ARGV[1])
  redis.call('PEXPIRE', KEYS[i], window * 2)
end
return 0
`;

type LimiterRedis = Redis & {
  admitLimits(numKeys: number, ...args: (string | number)[]): Promise<number>;
  addTokens(numKeys: number, ...args: (string | number)[]): Promise<number>;
};

/** The same counters in this process, for a single replica without Redis. */
class MemoryCounters {
  private readonly requests = new Map<string, number[]>();
  private readonly tokens = new Map<string, { window: number; used: number }>();

  admit(rpm: LimitKey[], tpm: LimitKey[], now: number): number {
    let wait = 0;
    for (const { key, limit } of rpm) {
      const times = (this.requests.get(key) ?? []).filter((t) => t > now - WINDOW_MS);
      this.requests.set(key, times);
      if (times.length >= limit) {
        wait = Math.max(wait, times.length > 0 ? times[0] + WINDOW_MS - now : WINDOW_MS);
      }
    }
    const start = now - (now % WINDOW_MS);
    for (const { key, limit } of tpm) {
      const entry = this.tokens.get(key);
      const used = entry && entry.window === start ? entry.used : 0;
      if (used >= limit) {
        wait = Math.max(wait, start + WINDOW_MS - now);
      }
    }
    if (wait > 0) {
      return wait;
    }
    for (const { key } of rpm) {
      this.requests.get(key)!.push(now);
    }
    return 0;
  }

  addTokens(tpm: LimitKey[], tokens: number, now: number): void {
    const start = now - (now % WINDOW_MS);
    for (const { key } of tpm) {
      const entry = this.tokens.get(key);
      this.tokens.set(key, {
        window: start,
        used: (entry && entry.window === start ? entry.used : 0) + tokens,
      });
    }
  }
}

/**
 * rpm/tpm limits per organization and per member. With REDIS_URL every replica counts in
 * Redis, atomically (one Lua script checks every counter and records the request only when
 * all fit), so L requests per minute means L in total, not L per replica. Without it the
 * counters live in this process (correct for one replica). When Redis cannot be reached,
 * REDIS_FAILURE_MODE decides: closed refuses calls that carry a limit, open lets them
 * through uncounted; /health/detailed shows which.
 */
@Injectable()
export class RateLimiterService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RateLimiterService.name);
  private readonly memory = new MemoryCounters();
  private redis: LimiterRedis | null = null;
  private lastError: string | null = null;
  private sequence = 0;
  private readonly instance = randomUUID();

  constructor(private readonly config: AppConfig) {}

  onModuleInit(): void {
    if (!this.config.redisUrl) {
      return;
    }
    const redis = new Redis(this.config.redisUrl, {
      keyPrefix: this.config.redisKeyPrefix,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: 1000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    }) as LimiterRedis;
    redis.defineCommand('admitLimits', { lua: ADMIT_SCRIPT });
    redis.defineCommand('addTokens', { lua: ADD_TOKENS_SCRIPT });
    redis.on('error', (error: Error) => {
      if (this.lastError !== error.message) {
        this.logger.warn(`Redis unavailable for rate limits: ${error.message}`);
      }
      this.lastError = error.message;
    });
    redis.on('ready', () => {
      if (this.lastError !== null) {
        this.logger.log('Redis reachable again for rate limits');
      }
      this.lastError = null;
    });
    this.redis = redis;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.redis) {
      this.redis.disconnect();
      this.redis = null;
    }
  }

  /** Waits until Redis is connected (boot and tests); true when it is. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    const redis = this.redis;
    if (!redis) {
      return true;
    }
    if (redis.status === 'ready') {
      return true;
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(redis.status === 'ready'), timeoutMs);
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  state(): LimiterState {
    const up = !this.redis || this.redis.status === 'ready';
    return {
      backend: this.redis ? 'redis' : 'memory',
      status: up ? 'up' : 'down',
      failure_mode: this.config.redisFailureMode,
      last_error: up ? null : (this.lastError ?? `connection ${this.redis?.status ?? 'closed'}`),
    };
  }

  /** Lets a call in when every counter has room, and counts it against the rpm ones. */
  async admit(rpm: LimitKey[], tpm: LimitKey[]): Promise<LimitDecision> {
    if (rpm.length === 0 && tpm.length === 0) {
      return { allowed: true };
    }
    if (!this.redis) {
      const wait = this.memory.admit(rpm, tpm, Date.now());
      return wait > 0
        ? { allowed: false, reason: 'rate_limited', retryAfterMs: wait }
        : { allowed: true };
    }
    try {
      const keys = [...rpm, ...tpm];
      const wait = await this.redis.admitLimits(
        keys.length,
        ...keys.map((k) => k.key),
        rpm.length,
        WINDOW_MS,
        `${this.instance}:${++this.sequence}`,
        ...keys.map((k) => k.limit),
      );
      return wait > 0
        ? { allowed: false, reason: 'rate_limited', retryAfterMs: Number(wait) }
        : { allowed: true };
    } catch (error) {
      return this.unavailable(error);
    }
  }

  /** Adds a finished call's tokens to its tpm counters. */
  async addTokens(tpm: LimitKey[], tokens: number): Promise<void> {
    if (tpm.length === 0 || !(tokens > 0)) {
      return;
    }
    if (!this.redis) {
      this.memory.addTokens(tpm, tokens, Date.now());
      return;
    }
    try {
      await this.redis.addTokens(
        tpm.length,
        ...tpm.map((k) => k.key),
        Math.round(tokens),
        WINDOW_MS,
      );
    } catch (error) {
      this.lastError = String((error as Error).message ?? error);
    }
  }

  private unavailable(error: unknown): LimitDecision {
    this.lastError = String((error as Error).message ?? error);
    if (this.config.redisFailureMode === 'open') {
      return { allowed: true };
    }
    return { allowed: false, reason: 'limiter_unavailable', retryAfterMs: 1000 };
  }
}
