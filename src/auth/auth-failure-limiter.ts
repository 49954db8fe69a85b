import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';

interface Window {
  startedAt: number;
  failures: number;
}

/**
 * Counts failed authentications per client address in a fixed window. Per process:
 * with several replicas each keeps its own count (documented in the guide).
 */
@Injectable()
export class AuthFailureLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly config: AppConfig) {}

  /** Seconds until the address may try again, or 0 when it is not blocked. */
  blockedFor(address: string, now = Date.now()): number {
    const window = this.current(address, now);
    if (!window || window.failures < this.config.authFailureLimit) {
      return 0;
    }
    return Math.max(1, Math.ceil((window.startedAt + this.windowMs - now) / 1000));
  }

  recordFailure(address: string, now = Date.now()): void {
    const window = this.current(address, now) ?? { startedAt: now, failures: 0 };
    window.failures++;
    this.windows.set(address, window);
    if (this.windows.size > 100_000) {
      this.sweep(now);
    }
  }

  private get windowMs(): number {
    return this.config.authFailureWindowSeconds * 1000;
  }

  private current(address: string, now: number): Window | undefined {
    const window = this.windows.get(address);
    if (window && now - window.startedAt >= this.windowMs) {
      this.windows.delete(address);
      return undefined;
    }
    return window;
  }

  private sweep(now: number): void {
    for (const [address, window] of this.windows) {
      if (now - window.startedAt >= this.windowMs) {
        this.windows.delete(address);
      }
    }
  }
}
