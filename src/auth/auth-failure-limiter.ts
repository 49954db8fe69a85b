import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';

interface Window {
  startedAt: number;
  failures: number;
}

/** Most client addresses whose failures are remembered at once (a few MB at most). */
export const TRACKED_ADDRESSES = 50_000;

/**
 * Counts failed authentications per client address in a fixed window. Per process:
 * with several replicas each keeps its own count (documented in the guide).
 *
 * Memory is bounded and every call costs O(1), however many addresses fail: the windows
 * live in two generations of at most `capacity / 2` addresses each. A failure puts its
 * address in the young generation; when that fills up it becomes the old one and the
 * previous old generation is dropped whole. So an address is forgotten only after
 * `capacity / 2` other addresses failed since its own last failure, and no call ever scans
 * or iterates a map (a Map used as an LRU must skip the holes its evictions leave, which
 * grows with churn). An attacker who spreads failures over that many addresses can make
 * the limiter forget an address sooner, never block one it did not fail from.
 */
@Injectable()
export class AuthFailureLimiter {
  readonly capacity = TRACKED_ADDRESSES;
  private young = new Map<string, Window>();
  private old = new Map<string, Window>();

  constructor(private readonly config: AppConfig) {}

  /** Addresses currently remembered (at most `capacity`). */
  get size(): number {
    return this.young.size + this.old.size;
  }

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
    if (this.young.has(address)) {
      return;
    }
    this.old.delete(address);
    this.young.set(address, window);
    if (this.young.size >= this.capacity / 2) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  private get windowMs(): number {
    return this.config.authFailureWindowSeconds * 1000;
  }

  /** The address's window, or undefined when it has none or it ended (then forgotten). */
  private current(address: string, now: number): Window | undefined {
    const window = this.young.get(address) ?? this.old.get(address);
    if (window && now - window.startedAt >= this.windowMs) {
      this.young.delete(address);
      this.old.delete(address);
      return undefined;
    }
    return window;
  }
}
